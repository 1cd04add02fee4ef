import { InvalidOptionError } from '@socketserver/core';

/** The longest delay a Node timer honours; a longer one fires after 1 ms. */
const maxTimerDelayMs = 2 ** 31 - 1;

/** `value` when it is `undefined` (no timeout) or a number of ms in (0, 2^31 - 1]; otherwise an {@link InvalidOptionError}. */
export function requireTimeoutMs(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && value > 0 && value <= maxTimerDelayMs) return value;
  throw new InvalidOptionError(name, value, `a number of ms > 0 and <= ${maxTimerDelayMs}, or undefined`);
}
