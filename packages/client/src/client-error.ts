import { printable } from './printable.js';

/**
 * Stable codes for every failure of the test client. Match on these, not on `instanceof`.
 *
 * - `ERR_CONNECTION_REFUSED`: nothing listens on that host and port, or at that Unix socket path
 *   (`ECONNREFUSED`; `ENOENT` when no file has that path).
 * - `ERR_CONNECTION_RESET`: the peer reset the connection, or a send hit a closed peer (`ECONNRESET`, `EPIPE`).
 * - `ERR_TIMEOUT`: a bounded wait ran out (connect, send, a read, `shutdownWrite`, `waitForClose`, `sendTo`,
 *   `recvFrom`).
 * - `ERR_ABORTED`: the caller's `AbortSignal` ended the connection attempt or a `recvFrom`.
 * - `ERR_CLIENT_CLOSED`: a client (`TestClient`, `DatagramClient`) was used after `close()` or `destroy()`,
 *   or closed while a call waited.
 * - `ERR_WRITE_AFTER_SHUTDOWN`: `send` after `shutdownWrite()`.
 * - `ERR_READ_IN_PROGRESS`: a read (or `recvFrom`) started while another one was still waiting.
 * - `ERR_UNEXPECTED_EOF`: the peer closed the connection before `recvExactly` got all its bytes.
 * - `ERR_LINE_TOO_LONG`: `readline` found no `\n` within `maxLineLength` bytes.
 * - `ERR_INVALID_ARGUMENT`: an argument or option is out of range.
 * - `ERR_SOCKET`: any other system error (see `cause`), such as `EMSGSIZE` from `sendTo`.
 */
export type ClientErrorCode =
  | 'ERR_CONNECTION_REFUSED'
  | 'ERR_CONNECTION_RESET'
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_CLIENT_CLOSED'
  | 'ERR_WRITE_AFTER_SHUTDOWN'
  | 'ERR_READ_IN_PROGRESS'
  | 'ERR_UNEXPECTED_EOF'
  | 'ERR_LINE_TOO_LONG'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_SOCKET';

/** The one error class of `@socketserver/client`. The underlying system error, if any, is the `cause`. */
export class ClientError extends Error {
  /** Always `'ClientError'`. */
  override readonly name = 'ClientError';
  /** The stable code to match on; see {@link ClientErrorCode}. */
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  /**
   * Translates a socket error (`ECONNREFUSED`, `ENOENT`, `ECONNRESET`, ...) on the connection to, or the
   * datagram sent to, `peer` ("host:port", or a Unix socket path).
   */
  static fromSystemError(error: unknown, peer: string): ClientError {
    const systemCode = error instanceof Error && 'code' in error ? String(error.code) : undefined;
    switch (systemCode) {
      case 'ECONNREFUSED':
        return new ClientError('ERR_CONNECTION_REFUSED', `Connection refused by ${peer}`, { cause: error });
      case 'ENOENT':
        return new ClientError('ERR_CONNECTION_REFUSED', `Connection refused by ${peer}: no such file`, {
          cause: error,
        });
      case 'ECONNRESET':
      case 'EPIPE':
        return new ClientError('ERR_CONNECTION_RESET', `Connection reset by ${peer}`, { cause: error });
      case 'ETIMEDOUT':
        return new ClientError('ERR_TIMEOUT', `Connection to ${peer} timed out (ETIMEDOUT)`, {
          cause: error,
        });
      default: {
        // An AggregateError from trying several addresses has only a code.
        const reason = (error instanceof Error && error.message) || systemCode || String(error);
        return new ClientError('ERR_SOCKET', `Socket error on ${peer}: ${printable(reason)}`, {
          cause: error,
        });
      }
    }
  }
}
