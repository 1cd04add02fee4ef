import {
  ProxyProtocolError,
  SocketServerError,
  TLSHandshakeError,
  type ProxyProtocolFailure,
  type SocketServerErrorCode,
} from '@socketserver/core';

/**
 * An error as it crosses a thread or process boundary, where it loses its prototype: plain,
 * structured-clonable and JSON-safe. No stack: the main side prints one line per error.
 */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  /** The error's `code`, when it has a string one (`ERR_LINE_TOO_LONG`, `ECONNRESET`, ...). */
  readonly code?: string;
  /** It was a {@link SocketServerError}: `code` is a `SocketServerErrorCode`. */
  readonly isSocketServerError?: true;
  /** A {@link ProxyProtocolError}'s `reason`. */
  readonly reason?: string;
}

/** The plain form of anything thrown. */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code } = error as { code?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' && { code }),
    ...(error instanceof SocketServerError && { isSocketServerError: true }),
    ...(error instanceof ProxyProtocolError && { reason: error.reason }),
  };
}

/**
 * Rebuild an error on the receiving side: a {@link SocketServerError} (`SocketServerError.from`)
 * for one of ours, else a plain Error; either way with the original name, message and code.
 */
export function deserializeError(plain: SerializedError): Error {
  const error =
    plain.isSocketServerError === true && plain.code !== undefined
      ? rebuildSocketServerError(plain.code as SocketServerErrorCode, plain)
      : Object.assign(new Error(plain.message), plain.code === undefined ? {} : { code: plain.code });
  // Own properties shadow the class's `name` getter and the message its constructor composes, so
  // the rebuilt error reads as the original.
  Object.defineProperty(error, 'name', { value: plain.name, configurable: true, writable: true });
  Object.defineProperty(error, 'message', { value: plain.message, configurable: true, writable: true });
  return error;
}

/** One of ours again, of its own class where the main side tells them apart (`reason`, `instanceof`). */
function rebuildSocketServerError(code: SocketServerErrorCode, plain: SerializedError): SocketServerError {
  if (code === 'ERR_PROXY_PROTOCOL' && plain.reason !== undefined) {
    return new ProxyProtocolError(plain.reason as ProxyProtocolFailure, plain.message);
  }
  if (code === 'ERR_TLS_HANDSHAKE') return new TLSHandshakeError(plain.message);
  return SocketServerError.from({ code, message: plain.message });
}
