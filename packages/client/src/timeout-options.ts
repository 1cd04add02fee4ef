import { requireInteger } from './require-integer.js';

/** The wait applied when `timeoutMs` is not given: 10 s. */
export const defaultTimeoutMs = 10_000;

/** The largest delay `setTimeout` honours (about 24.8 days). */
const maxTimeoutMs = 2 ** 31 - 1;

/** Options of every client call that waits. */
export interface TimeoutOptions {
  /**
   * How long to wait, in milliseconds, before failing with `ERR_TIMEOUT`.
   * Default (`undefined`): 10_000. Must be an integer from 1 to 2^31 - 1: `0`, negative and non-finite
   * values are rejected with `ERR_INVALID_ARGUMENT`, so no wait is ever unbounded.
   */
  timeoutMs?: number;
}

/** Validates `timeoutMs` and applies the default. */
export function resolveTimeoutMs(timeoutMs: number | undefined): number {
  return requireInteger('timeoutMs', timeoutMs ?? defaultTimeoutMs, 1, maxTimeoutMs);
}
