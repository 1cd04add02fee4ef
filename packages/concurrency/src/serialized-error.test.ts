import { describe, expect, it } from 'vitest';
import { BindError, LineTooLongError, ProxyProtocolError, SocketServerError } from '@socketserver/core';
import { deserializeError, serializeError } from '../dist/serialized-error.js';

/** Across a stream child's IPC channel (JSON): stricter than a thread's or a datagram child's (structured clone). */
function crossed(error: unknown): Error {
  return deserializeError(
    JSON.parse(JSON.stringify(serializeError(error))) as ReturnType<typeof serializeError>,
  );
}

describe('errors crossing to the main thread', () => {
  it('rebuild one of ours of its class, with its code, name, message and fields', () => {
    const error = crossed(new LineTooLongError(16));
    expect(error).toBeInstanceOf(LineTooLongError);
    expect(error).toMatchObject({
      code: 'ERR_LINE_TOO_LONG',
      name: 'LineTooLongError',
      message: 'line longer than 16 bytes',
      maxLineLength: 16,
    });
    const refused = crossed(new ProxyProtocolError('untrusted', '10.0.0.1 is not a trusted proxy'));
    expect(refused).toBeInstanceOf(ProxyProtocolError);
    expect(refused).toMatchObject({
      reason: 'untrusted',
      message: 'PROXY protocol: 10.0.0.1 is not a trusted proxy',
    });
    const bind = crossed(new BindError('/tmp/s', Object.assign(new Error('in use'), { code: 'EADDRINUSE' })));
    expect(bind).toBeInstanceOf(BindError);
    expect(bind).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', path: '/tmp/s', host: '' });
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
