import { once } from 'node:events';
import type { Socket } from 'node:net';
import { ClientError } from './client-error.js';
import { TestClient } from './test-client.js';

/** How {@link openConnection} bounds and names one connection attempt. */
export interface ConnectionAttempt {
  /** The calling function, for messages: `'connect()'`, `'connectUnix()'`. */
  readonly operation: string;
  /** The peer, for messages: "host:port" or a socket path. */
  readonly peer: string;
  /** Validated bound of the attempt, in milliseconds. */
  readonly timeoutMs: number;
  /** Ends the attempt with `ERR_ABORTED`; `undefined`: only `timeoutMs` does. */
  readonly signal: AbortSignal | undefined;
  /** A Unix-domain connection, which `TestClient.destroy()` closes without a TCP reset. */
  readonly isUnixDomain: boolean;
}

/**
 * The part `connect()` and `connectUnix()` share: fails with `ERR_ABORTED` before calling `createSocket`
 * if the signal has already aborted, then waits for `'connect'` and hands the socket to a `TestClient`.
 * On failure destroys the socket and rejects with `ERR_TIMEOUT`, `ERR_ABORTED` or the translated system error.
 */
export async function openConnection(
  attempt: ConnectionAttempt,
  createSocket: () => Socket,
): Promise<TestClient> {
  const { operation, peer, timeoutMs, signal } = attempt;
  const abortedError = (): ClientError =>
    new ClientError('ERR_ABORTED', `${operation} to ${peer} was aborted`, { cause: signal?.reason });
  if (signal?.aborted) throw abortedError();

  const socket = createSocket();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  try {
    await once(socket, 'connect', {
      signal: signal ? AbortSignal.any([timeout.signal, signal]) : timeout.signal,
    });
    return new TestClient(socket, peer, attempt.isUnixDomain);
  } catch (error) {
    socket.destroy();
    if (timeout.signal.aborted) {
      throw new ClientError('ERR_TIMEOUT', `${operation} to ${peer} timed out after ${timeoutMs} ms`);
    }
    if (signal?.aborted) throw abortedError();
    throw ClientError.fromSystemError(error, peer);
  } finally {
    clearTimeout(timer);
  }
}
