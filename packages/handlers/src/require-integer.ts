import { InvalidOptionError } from '@socketserver/core';

/** `value` when it is a safe integer of at least `min`; otherwise an {@link InvalidOptionError} naming `name`. */
export function requireInteger(name: string, value: unknown, min: number): number {
  if (Number.isSafeInteger(value) && (value as number) >= min) return value as number;
  throw new InvalidOptionError(name, value, `an integer >= ${min}`);
}
