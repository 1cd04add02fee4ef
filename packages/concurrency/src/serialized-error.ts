import { SocketServerError, type SocketServerErrorCode } from '@socketserver/core';

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
  };
}

/**
 * Rebuild an error on the receiving side: a {@link SocketServerError} (`SocketServerError.from`)
 * for one of ours, else a plain Error; either way with the original name, message and code.
 */
export function deserializeError(plain: SerializedError): Error {
  const error =
    plain.isSocketServerError === true && plain.code !== undefined
      ? SocketServerError.from({ code: plain.code as SocketServerErrorCode, message: plain.message })
      : Object.assign(new Error(plain.message), plain.code === undefined ? {} : { code: plain.code });
  // An own property shadows the class's `name` getter, so the rebuilt error reads as the original.
  Object.defineProperty(error, 'name', { value: plain.name, configurable: true, writable: true });
  return error;
}
