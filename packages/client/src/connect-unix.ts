import { createConnection } from 'node:net';
import { openConnection } from './open-connection.js';
import { unixPathLabel } from './peer-label.js';
import { requireSocketPath } from './require-socket-path.js';
import type { TestClient } from './test-client.js';
import { resolveTimeoutMs, type TimeoutOptions } from './timeout-options.js';

/** Options of {@link connectUnix}. `timeoutMs` bounds the connection attempt (default 10 s). */
export interface ConnectUnixOptions extends TimeoutOptions {
  /**
   * Aborts the connection attempt with `ERR_ABORTED` (the signal's reason as `cause`); no effect once
   * connected. Default (`undefined`): only `timeoutMs` ends the attempt.
   */
  signal?: AbortSignal;
}

/**
 * Opens a Unix-domain stream connection, like Python's `s = socket(AF_UNIX); s.connect(path)`. A `path`
 * starting with `'\0'` is a Linux abstract name, shown as `@name` in messages. The `TestClient` names
 * the server by its path; its addresses are `''` and its ports `0`. Rejects with `ERR_CONNECTION_REFUSED`
 * (no socket at `path`, or nothing listening on it), `ERR_TIMEOUT`, `ERR_ABORTED`, `ERR_INVALID_ARGUMENT`
 * or `ERR_SOCKET`.
 */
export async function connectUnix(path: string, options: ConnectUnixOptions = {}): Promise<TestClient> {
  const timeoutMs = resolveTimeoutMs(options.timeoutMs);
  requireSocketPath('path', path);
  return openConnection(
    {
      operation: 'connectUnix()',
      peer: unixPathLabel(path),
      timeoutMs,
      signal: options.signal,
      isUnixDomain: true,
    },
    () => createConnection({ path, allowHalfOpen: true }),
  );
}
