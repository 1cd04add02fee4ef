import { describe, expect, it } from 'vitest';
import { LineTooLongError, SocketServerError } from '@socketserver/core';
import { deserializeError, serializeError } from '../dist/serialized-error.js';

/** Across a child's IPC channel (JSON), as across a thread's (structured clone). */
function crossed(error: unknown): Error {
  return deserializeError(
    JSON.parse(JSON.stringify(serializeError(error))) as ReturnType<typeof serializeError>,
  );
}

describe('errors crossing to the main thread', () => {
  it('rebuild one of ours as a SocketServerError with its code, name and message', () => {
    const error = crossed(new LineTooLongError(16));
    expect(error).toBeInstanceOf(SocketServerError);
    expect(error).toMatchObject({
      code: 'ERR_LINE_TOO_LONG',
      name: 'LineTooLongError',
      message: 'line longer than 16 bytes',
    });
  });

  it('rebuild any other error as a plain Error with its name, message and code', () => {
    const error = crossed(new RangeError('out of range'));
    expect(error).not.toBeInstanceOf(SocketServerError);
    expect(error).toMatchObject({ name: 'RangeError', message: 'out of range' });
    const reset = crossed(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    expect(reset).not.toBeInstanceOf(SocketServerError);
    expect(reset).toMatchObject({ name: 'Error', code: 'ECONNRESET', message: 'read ECONNRESET' });
  });

  it('turn a thrown non-Error into an Error with its text', () => {
    expect(crossed('just a string')).toMatchObject({ name: 'Error', message: 'just a string' });
  });
});
