import { createConnection } from 'node:net';
import { openConnection } from './open-connection.js';
import { hostPortLabel } from './peer-label.js';
import { requireInteger } from './require-integer.js';
import type { TestClient } from './test-client.js';
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
  const peer = hostPortLabel(host, port);
  const timeoutMs = resolveTimeoutMs(options.timeoutMs);
  requireInteger('port', port, 1, 65_535);
  return openConnection(
    { operation: 'connect()', peer, timeoutMs, signal: options.signal, isUnixDomain: false },
    () => createConnection({ host, port, family: options.family ?? 0, allowHalfOpen: true }),
  );
}
