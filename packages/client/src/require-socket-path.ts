import { inspect } from 'node:util';
import { ClientError } from './client-error.js';

/**
 * Returns `value` if it is a non-empty string (a file system path, or a Linux abstract name starting
 * with `'\0'`), else throws `ERR_INVALID_ARGUMENT` naming `name`.
 */
export function requireSocketPath(name: string, value: unknown): string {
  if (typeof value === 'string' && value.length > 0) return value;
  throw new ClientError(
    'ERR_INVALID_ARGUMENT',
    `${name} must be a non-empty Unix socket path, got ${inspect(value)}`,
  );
}
