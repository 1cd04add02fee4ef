import { printable } from './printable.js';

/**
 * Every failure this library reports carries a stable `code`, and each code has its class here
 * (`BindError` for the bind codes, `SendError` for ERR_SEND_FAILED, ...). An error that crosses a
 * thread or process boundary loses its prototype: it travels as plain data and is rebuilt with
 * {@link SocketServerError.from}, of its class again. Matching on `code` works everywhere.
 */
export type SocketServerErrorCode =
  /** The address and port are taken by another socket (EADDRINUSE). */
  | 'ERR_ADDRESS_IN_USE'
  /** The address is not on this machine (EADDRNOTAVAIL) or could not be resolved. */
  | 'ERR_ADDRESS_NOT_AVAILABLE'
  /** Binding was refused by the system (EACCES, EPERM): a privileged port, for example. */
  | 'ERR_PERMISSION_DENIED'
  /** Binding failed for another system reason. */
  | 'ERR_BIND_FAILED'
  /** The listening socket failed to accept a connection (ENOBUFS, ENOMEM, ...); it listens on. */
  | 'ERR_ACCEPT_FAILED'
  /** An option has a value outside its domain. */
  | 'ERR_INVALID_OPTION'
  /** An option is valid, but this platform cannot honour it. */
  | 'ERR_UNSUPPORTED_OPTION'
  /** A lifecycle method was called out of order (activate before bind, serve twice, ...). */
  | 'ERR_SERVER_STATE'
  /** The server was shut down or closed; it cannot serve again. */
  | 'ERR_SERVER_CLOSED'
  /** A datagram was longer than the server's `maxPacketSize`; the handler got its first bytes. */
  | 'ERR_DATAGRAM_TRUNCATED'
  /** A datagram could not be sent (too long for the socket, an unnamed Unix peer, a closed server). */
  | 'ERR_SEND_FAILED'
  /** A connection's TLS handshake failed: a plain-TCP client, a refused certificate, a timeout. */
  | 'ERR_TLS_HANDSHAKE'
  /** A connection's PROXY protocol header was refused: untrusted peer, malformed, truncated, oversized, late. */
  | 'ERR_PROXY_PROTOCOL'
  /** A line exceeded the reader's `maxLineLength`. */
  | 'ERR_LINE_TOO_LONG'
  /** A connection sent nothing for longer than the idle timeout. */
  | 'ERR_IDLE_TIMEOUT'
  /** The connection was closed while a read or write was waiting on it. */
  | 'ERR_CONNECTION_CLOSED'
  /** A handler class that must run in another thread or process does not say where it lives. */
  | 'ERR_HANDLER_NOT_LOCATABLE'
  /** A handler class could not be loaded from its module (in a worker thread or process). */
  | 'ERR_HANDLER_LOAD_FAILED'
  /** A worker thread or process could not start. */
  | 'ERR_WORKER_START_FAILED'
  /** A worker thread or process ended while it served connections. */
  | 'ERR_WORKER_EXITED'
  /** A worker thread or process stopped answering (its event loop is blocked): it is replaced. */
  | 'ERR_WORKER_UNRESPONSIVE';

/** The base class of every error this library throws or reports. */
export class SocketServerError extends Error {
  /** The stable code to match on; see {@link SocketServerErrorCode}. */
  readonly code: SocketServerErrorCode;

  constructor(code: SocketServerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  /** The name of the error's class, such as `BindError`. */
  override get name(): string {
    return this.constructor.name;
  }

  /** The plain form that crosses a thread or process boundary. */
  toJSON(): {
    /** The error's {@link SocketServerError.code}. */
    code: SocketServerErrorCode;
    /** The error's message. */
    message: string;
  } {
    return { code: this.code, message: this.message };
  }

  /**
   * Rebuild an error sent across a boundary as `{ code, message }`, of the class of its code (a
   * {@link ProxyProtocolError} for ERR_PROXY_PROTOCOL, ...): its constructor does not run again,
   * and the fields of `plain` besides `code` and `message` (a `reason`, a `path`, ...) are set on it.
   */
  static from(plain: {
    readonly code: SocketServerErrorCode;
    readonly message: string;
    readonly [field: string]: unknown;
  }): SocketServerError {
    const ErrorClass = classesByCode.get(plain.code) ?? SocketServerError;
    // A real Error (its stack, util.inspect's view of it) given the class's prototype.
    const error = Object.setPrototypeOf(
      new Error(plain.message),
      ErrorClass.prototype as object,
    ) as SocketServerError;
    Object.assign(error, plain);
    return error;
  }
}

/** Binding or listening failed: the address is in use, unavailable, or not permitted. */
export class BindError extends SocketServerError {
  /** The host as the caller gave it ('' for all interfaces); `''` for a Unix socket. */
  readonly host: string;
  /** The port as the caller gave it (0 for any free port); `undefined` for a Unix socket. */
  readonly port: number | undefined;
  /** The Unix socket path; `undefined` for TCP and UDP. */
  readonly path: string | undefined;
  /** The inherited file descriptor that could not listen; `undefined` for an address. */
  readonly fd: number | undefined;

  /**
   * @param address `[host, port]`, a Unix socket path, or `{ fd }`: an inherited socket.
   * @param detail Said after the reason, such as who owns the address.
   */
  constructor(
    address: readonly [host: string, port: number] | string | { readonly fd: number },
    cause: NodeJS.ErrnoException,
    detail?: string,
  ) {
    const [code, reason] = describeBindFailure(cause);
    const where =
      typeof address === 'string'
        ? describeUnixPath(address)
        : 'fd' in address
          ? `inherited fd ${address.fd}`
          : `${address[0] === '' ? 'all interfaces' : printable(address[0])} port ${address[1]}`;
    super(code, `cannot listen on ${where}: ${reason}${detail === undefined ? '' : ` (${detail})`}`, {
      cause,
    });
    const [host, port] = typeof address === 'string' || 'fd' in address ? ['', undefined] : address;
    this.host = host;
    this.port = port;
    this.path = typeof address === 'string' ? address : undefined;
    this.fd = typeof address !== 'string' && 'fd' in address ? address.fd : undefined;
  }
}

/**
 * A Unix socket path for a message: the path, or `@name` for a Linux abstract name, with what is
 * not printable escaped by {@link printable} (`/tmp/a\nb` for a newline in it), so that the
 * message stays one line.
 */
export function describeUnixPath(path: string): string {
  return path.startsWith('\0') ? `@${printable(path.slice(1))}` : printable(path);
}

/**
 * A datagram longer than the server's `maxPacketSize`: the handler gets its first
 * `maxPacketSize` bytes, as the system's `recvfrom` would, and this is reported to `handleError`.
 */
export class DatagramTruncatedError extends SocketServerError {
  /** The datagram's length, in bytes. */
  readonly size: number;
  /** The bytes the handler got. */
  readonly maxPacketSize: number;
  /**
   * 0 for the first truncation of a burst, reported at once; otherwise how many datagrams were
   * truncated since the last report (this one, `size`, the latest of them), reported together.
   */
  readonly more: number;

  constructor(size: number, maxPacketSize: number, more = 0, periodMs = 1_000) {
    super(
      'ERR_DATAGRAM_TRUNCATED',
      more === 0
        ? `datagram of ${size} bytes truncated to maxPacketSize (${maxPacketSize} bytes)`
        : `${more} more datagram(s) truncated to maxPacketSize (${maxPacketSize} bytes) in the last ${periodMs / 1000} s; the latest of ${size} bytes`,
    );
    this.size = size;
    this.maxPacketSize = maxPacketSize;
    this.more = more;
  }
}

function describeBindFailure(cause: NodeJS.ErrnoException): [SocketServerErrorCode, string] {
  switch (cause.code) {
    case 'EADDRINUSE':
      return ['ERR_ADDRESS_IN_USE', 'address already in use'];
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAFNOSUPPORT':
      return ['ERR_ADDRESS_NOT_AVAILABLE', `address not available (${cause.code})`];
    case 'ENOENT':
    case 'ENOTDIR':
      return ['ERR_ADDRESS_NOT_AVAILABLE', `no such directory (${cause.code})`];
    case 'EACCES':
    case 'EPERM':
      return ['ERR_PERMISSION_DENIED', `permission denied (${cause.code})`];
    case 'EROFS':
      return ['ERR_PERMISSION_DENIED', 'read-only file system (EROFS)'];
    default:
      return ['ERR_BIND_FAILED', printable(cause.message)];
  }
}

/** An option is out of its domain; thrown at construction, before any socket exists. */
export class InvalidOptionError extends SocketServerError {
  constructor(option: string, value: unknown, expected: string) {
    super('ERR_INVALID_OPTION', `invalid ${option}: ${String(value)} (expected ${expected})`);
  }
}

/** A valid option this platform cannot honour: never silently ignored. */
export class UnsupportedOptionError extends SocketServerError {
  constructor(option: string, reason: string, options?: ErrorOptions) {
    super('ERR_UNSUPPORTED_OPTION', `${option} is not supported here: ${reason}`, options);
  }
}

/** A lifecycle method called in the wrong state. */
export class ServerStateError extends SocketServerError {
  constructor(message: string) {
    super('ERR_SERVER_STATE', message);
  }
}

/** The server was shut down or closed; after that it cannot serve. */
export class ServerClosedError extends SocketServerError {
  constructor(message = 'the server is closed') {
    super('ERR_SERVER_CLOSED', message);
  }
}

/** A line longer than the reader's cap; by default it ends the connection. */
export class LineTooLongError extends SocketServerError {
  /** The cap the line exceeded, in bytes. */
  readonly maxLineLength: number;

  constructor(maxLineLength: number) {
    super('ERR_LINE_TOO_LONG', `line longer than ${maxLineLength} bytes`);
    this.maxLineLength = maxLineLength;
  }
}

/** The peer sent nothing for `idleTimeoutMs`; the connection is closed. */
export class IdleTimeoutError extends SocketServerError {
  /** The idle timeout that expired, in ms. */
  readonly idleTimeoutMs: number;

  constructor(idleTimeoutMs: number) {
    super('ERR_IDLE_TIMEOUT', `connection idle for ${idleTimeoutMs} ms, closed`);
    this.idleTimeoutMs = idleTimeoutMs;
  }
}

/** A read or write was waiting when the connection closed under it. */
export class ConnectionClosedError extends SocketServerError {
  constructor(message = 'the connection is closed', options?: ErrorOptions) {
    super('ERR_CONNECTION_CLOSED', message, options);
  }
}

/** A connection could not be accepted (ENOBUFS, ENOMEM, EMFILE, ...): lost, while the server listens on. */
export class AcceptError extends SocketServerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_ACCEPT_FAILED', message, options);
  }
}

/** A datagram could not be sent: too long for the socket, an unnamed Unix peer, a closed server. */
export class SendError extends SocketServerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SEND_FAILED', message, options);
  }
}

/** A connection's TLS handshake failed (a plain-TCP client, a bad certificate, a timeout). */
export class TLSHandshakeError extends SocketServerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TLS_HANDSHAKE', message, options);
  }
}

/** Why a connection's PROXY header was refused: {@link ProxyProtocolError.reason}. */
export type ProxyProtocolFailure =
  /** Not a header of an accepted version, or a field out of its domain. */
  | 'malformed'
  /** The connection ended, or failed, before the header did. */
  | 'truncated'
  /** Longer than a v1 line (107 bytes) or than `maxProxyHeaderSize` (v2). */
  | 'oversized'
  /** The peer is not one of `proxyTrustedSources`: it may not speak for another client. */
  | 'untrusted'
  /** No complete header within `proxyHeaderTimeoutMs`. */
  | 'timeout';

/** A connection's PROXY header was refused; the connection was closed without serving it. */
export class ProxyProtocolError extends SocketServerError {
  /** Why; see {@link ProxyProtocolFailure}. */
  readonly reason: ProxyProtocolFailure;

  constructor(reason: ProxyProtocolFailure, message: string, options?: ErrorOptions) {
    super('ERR_PROXY_PROTOCOL', `PROXY protocol: ${message}`, options);
    this.reason = reason;
  }
}

/** A handler class that must run in a worker does not say where it lives (`moduleURL`). */
export class HandlerNotLocatableError extends SocketServerError {
  constructor(message: string) {
    super('ERR_HANDLER_NOT_LOCATABLE', message);
  }
}

/** A handler class could not be loaded from its module, in a worker thread or process. */
export class HandlerLoadError extends SocketServerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_HANDLER_LOAD_FAILED', message, options);
  }
}

/** A worker thread or process could not start. */
export class WorkerStartError extends SocketServerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_WORKER_START_FAILED', message, options);
  }
}

/** A worker thread or process ended while it served: its requests are lost, and it is replaced. */
export class WorkerExitedError extends SocketServerError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_WORKER_EXITED', message, options);
  }
}

/** A worker stopped answering health pings (its event loop is blocked): it is ended and replaced. */
export class WorkerUnresponsiveError extends SocketServerError {
  constructor(message: string) {
    super('ERR_WORKER_UNRESPONSIVE', message);
  }
}

/** The class of each code, for {@link SocketServerError.from}. */
const classesByCode: ReadonlyMap<
  SocketServerErrorCode,
  abstract new (...args: never[]) => SocketServerError
> = new Map<SocketServerErrorCode, abstract new (...args: never[]) => SocketServerError>([
  ['ERR_ADDRESS_IN_USE', BindError],
  ['ERR_ADDRESS_NOT_AVAILABLE', BindError],
  ['ERR_PERMISSION_DENIED', BindError],
  ['ERR_BIND_FAILED', BindError],
  ['ERR_ACCEPT_FAILED', AcceptError],
  ['ERR_INVALID_OPTION', InvalidOptionError],
  ['ERR_UNSUPPORTED_OPTION', UnsupportedOptionError],
  ['ERR_SERVER_STATE', ServerStateError],
  ['ERR_SERVER_CLOSED', ServerClosedError],
  ['ERR_DATAGRAM_TRUNCATED', DatagramTruncatedError],
  ['ERR_SEND_FAILED', SendError],
  ['ERR_TLS_HANDSHAKE', TLSHandshakeError],
  ['ERR_PROXY_PROTOCOL', ProxyProtocolError],
  ['ERR_LINE_TOO_LONG', LineTooLongError],
  ['ERR_IDLE_TIMEOUT', IdleTimeoutError],
  ['ERR_CONNECTION_CLOSED', ConnectionClosedError],
  ['ERR_HANDLER_NOT_LOCATABLE', HandlerNotLocatableError],
  ['ERR_HANDLER_LOAD_FAILED', HandlerLoadError],
  ['ERR_WORKER_START_FAILED', WorkerStartError],
  ['ERR_WORKER_EXITED', WorkerExitedError],
  ['ERR_WORKER_UNRESPONSIVE', WorkerUnresponsiveError],
]);
