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

/** `value` when it is a number of ms from 0 to {@link maxDelayMs}; otherwise an {@link InvalidOptionError}. */
export function requireDelayMs(name: string, value: unknown): number {
  if (typeof value === 'number' && value >= 0 && value <= maxDelayMs) return value;
  throw new InvalidOptionError(name, value, `a number of ms from 0 to ${maxDelayMs}`);
}

/**
 * `value` when it is `undefined` (no timeout) or a number of ms above 0, at most {@link maxDelayMs};
 * otherwise an {@link InvalidOptionError}.
 */
export function requireTimeoutMs(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && value > 0 && value <= maxDelayMs) return value;
  throw new InvalidOptionError(name, value, `a number of ms above 0, at most ${maxDelayMs}, or undefined`);
}
