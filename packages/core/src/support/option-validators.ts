import { InvalidOptionError } from './errors.js';

/** The longest delay a Node timer honours; a longer one fires after 1 ms (about 24.8 days). */
export const maxDelayMs: number = 2 ** 31 - 1;

/** `value` when it is a safe integer of at least `min` (and at most `max`, if given); otherwise an {@link InvalidOptionError} naming `name`. */
export function requireInteger(name: string, value: unknown, min: number, max?: number): number {
  if (
    Number.isSafeInteger(value) &&
    (value as number) >= min &&
    (max === undefined || (value as number) <= max)
  )
    return value as number;
  throw new InvalidOptionError(
    name,
    value,
    max === undefined ? `an integer >= ${min}` : `an integer ${min}-${max}`,
  );
}

/** `value` when it is a boolean; otherwise an {@link InvalidOptionError} naming `name`. */
export function requireBoolean(name: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  throw new InvalidOptionError(name, value, 'a boolean');
}

/**
 * `value` when it is a number of ms from 0 to 2^31 - 1 (the longest delay a Node timer honours);
 * otherwise an {@link InvalidOptionError}. For bounds on an orderly wait (`drainTimeoutMs`: how long running
 * requests may finish) and delays, where 0 means "do not wait"; a timeout that ends something for
 * being slow takes {@link requireTimeoutMs}, where 0 means "off".
 */
export function requireDelayMs(name: string, value: unknown): number {
  if (typeof value === 'number' && value >= 0 && value <= maxDelayMs) return value;
  throw new InvalidOptionError(name, value, `a number of ms from 0 to ${maxDelayMs}`);
}

/**
 * A timeout that ends something for being slow (a connection, a handshake, a wait, a worker),
 * checked: `undefined` or `0` turn it off (`undefined` is returned, as Node's and Go's timeouts take
 * 0), a number of ms above 0, at most 2^31 - 1, is returned as it is; anything else
 * (negative, `NaN`, `Infinity`, not a number) is an {@link InvalidOptionError} naming `name`.
 * Pass the default in its place (`value ?? 10_000`) for a timeout that is on unless turned off.
 */
export function requireTimeoutMs(name: string, value: unknown): number | undefined {
  if (value === undefined || value === 0) return undefined;
  if (typeof value === 'number' && value > 0 && value <= maxDelayMs) return value;
  throw new InvalidOptionError(
    name,
    value,
    `a number of ms from 0 (off) to ${maxDelayMs}, or undefined (off)`,
  );
}
