// Every code has its class, and an error rebuilt from plain data is of that class again.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '../index.js';
import {
  BindError,
  ProxyProtocolError,
  SendError,
  SocketServerError,
  WorkerExitedError,
  type SocketServerErrorCode,
} from './errors.js';

/** Every code of SocketServerErrorCode, read from its declaration. */
function declaredCodes(): SocketServerErrorCode[] {
  const source = readFileSync(new URL('errors.ts', import.meta.url), 'utf8');
  const start = source.indexOf('export type SocketServerErrorCode =');
  // The union ends with its last code and a semicolon (its doc comments have semicolons too).
  const union = source.slice(start, source.indexOf("';\n", start));
  return [...union.matchAll(/'(ERR_[A-Z_]+)'/g)].map((match) => match[1] as SocketServerErrorCode);
}

describe('SocketServerError.from', () => {
  it('rebuilds every code as a subclass of its own, exported from core', () => {
    const exportedClasses = Object.values(core).filter(
      (value): value is typeof SocketServerError =>
        typeof value === 'function' && value.prototype instanceof SocketServerError,
    );
    const codes = declaredCodes();
    expect(codes.length).toBeGreaterThan(15);
    for (const code of codes) {
      const error = SocketServerError.from({ code, message: `a ${code}` });
      expect(error.constructor, code).not.toBe(SocketServerError);
      expect(exportedClasses, code).toContain(error.constructor);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ code, message: `a ${code}`, name: error.constructor.name });
      expect(error.stack).toContain(`a ${code}`);
    }
  });

  it('keeps the fields sent with it', () => {
    const refused = SocketServerError.from({
      code: 'ERR_PROXY_PROTOCOL',
      message: 'PROXY protocol: 127.0.0.1 is not a trusted proxy',
      reason: 'untrusted',
    });
    expect(refused).toBeInstanceOf(ProxyProtocolError);
    expect((refused as ProxyProtocolError).reason).toBe('untrusted');
    expect(refused.message).toBe('PROXY protocol: 127.0.0.1 is not a trusted proxy');

    const bind = SocketServerError.from({ code: 'ERR_ADDRESS_IN_USE', message: 'in use', path: '/tmp/s' });
    expect(bind).toBeInstanceOf(BindError);
    expect((bind as BindError).path).toBe('/tmp/s');
    expect(SocketServerError.from({ code: 'ERR_SEND_FAILED', message: 'x' })).toBeInstanceOf(SendError);
    expect(SocketServerError.from({ code: 'ERR_WORKER_EXITED', message: 'x' })).toBeInstanceOf(
      WorkerExitedError,
    );
  });
});

describe('BindError', () => {
  it('names an inherited descriptor that cannot listen', () => {
    const error = new BindError({ fd: 3 }, Object.assign(new Error('bad'), { code: 'ENOTSOCK' }));
    expect(error).toMatchObject({ code: 'ERR_BIND_FAILED', fd: 3, host: '', port: undefined });
    expect(error.message).toBe('cannot listen on inherited fd 3: bad');
  });
});
