import { once } from 'node:events';
import { createConnection } from 'node:net';
import { ClientError } from './client-error.js';
import { requireInteger } from './require-integer.js';
import { TestClient } from './test-client.js';
import { resolveTimeoutMs, type TimeoutOptions } from './timeout-options.js';

/** Options of {@link connect}. `timeoutMs` bounds the connection attempt (default 10 s). */
export interface ConnectOptions extends TimeoutOptions {
  /** IP version used to resolve `host`. Default (`undefined`): either, as Node's `net.connect` picks. */
  family?: 4 | 6;
  /**
   * Aborts the connection attempt with `ERR_ABORTED` (the signal's reason as `cause`); no effect once
   * connected. Default (`undefined`): only `timeoutMs` ends the attempt.
   */
  signal?: AbortSignal;
}

/**
 * Opens a TCP connection, like Python's `s = socket(); s.connect((host, port))`. Rejects with
 * `ERR_CONNECTION_REFUSED`, `ERR_TIMEOUT`, `ERR_ABORTED`, `ERR_INVALID_ARGUMENT` or `ERR_SOCKET`.
 */
export async function connect(host: string, port: number, options: ConnectOptions = {}): Promise<TestClient> {
  const peer = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const timeoutMs = resolveTimeoutMs(options.timeoutMs);
  requireInteger('port', port, 1, 65_535);
  const { signal } = options;
  const abortedError = (): ClientError =>
    new ClientError('ERR_ABORTED', `connect() to ${peer} was aborted`, { cause: signal?.reason });
  if (signal?.aborted) throw abortedError();

  const socket = createConnection({ host, port, family: options.family ?? 0, allowHalfOpen: true });
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  try {
    await once(socket, 'connect', {
      signal: signal ? AbortSignal.any([timeout.signal, signal]) : timeout.signal,
    });
    return new TestClient(socket, peer);
  } catch (error) {
    socket.destroy();
    if (timeout.signal.aborted) {
      throw new ClientError('ERR_TIMEOUT', `connect() to ${peer} timed out after ${timeoutMs} ms`);
    }
    if (signal?.aborted) throw abortedError();
    throw ClientError.fromSystemError(error, peer);
  } finally {
    clearTimeout(timer);
  }
}
