import { ClientError } from './client-error.js';

/** Returns `value` if it is an integer in `[minimum, maximum]`, else throws `ERR_INVALID_ARGUMENT` naming `name`. */
export function requireInteger(
  name: string,
  value: number,
  minimum: number,
  maximum: number = Number.MAX_SAFE_INTEGER,
): number {
  if (Number.isInteger(value) && value >= minimum && value <= maximum) return value;
  throw new ClientError(
    'ERR_INVALID_ARGUMENT',
    `${name} must be an integer from ${minimum} to ${maximum}, got ${value}`,
  );
}
