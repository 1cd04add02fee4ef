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
  /** A SocketServerError's own fields of plain values (a `reason`, a `path`, a `maxLineLength`). */
  readonly fields?: Readonly<Record<string, string | number | boolean | null>>;
}

/** The plain form of anything thrown. */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code } = error as { code?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' && { code }),
    ...(error instanceof SocketServerError && { isSocketServerError: true, fields: plainFieldsOf(error) }),
  };
}

/**
 * Rebuild an error on the receiving side: one of ours of its own class again, with its fields
 * (`SocketServerError.from`), else a plain Error; either way with the original name, message and
 * code.
 */
export function deserializeError(plain: SerializedError): Error {
  const error =
    plain.isSocketServerError === true && plain.code !== undefined
      ? SocketServerError.from({
          ...plain.fields,
          code: plain.code as SocketServerErrorCode,
          message: plain.message,
        })
      : Object.assign(new Error(plain.message), plain.code === undefined ? {} : { code: plain.code });
  // An own property shadows the class's `name` getter, so the rebuilt error reads as the original.
  Object.defineProperty(error, 'name', { value: plain.name, configurable: true, writable: true });
  return error;
}

/** The own enumerable fields of `error` whose values are plain (no `cause`, no objects). */
function plainFieldsOf(error: SocketServerError): Record<string, string | number | boolean | null> {
  const fields: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === 'code' || key === 'message') continue;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) {
      fields[key] = value as string | number | boolean | null;
    }
  }
  return fields;
}
