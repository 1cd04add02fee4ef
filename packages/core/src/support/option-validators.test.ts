import { describe, expect, it } from 'vitest';
import { maxDelayMs, requireDelayMs, requireTimeoutMs } from './option-validators.js';

describe('requireTimeoutMs: a timeout that ends something for being slow', () => {
  it('takes undefined and 0 as off (undefined), as Node and Go take 0', () => {
    expect(requireTimeoutMs('t', undefined)).toBeUndefined();
    expect(requireTimeoutMs('t', 0)).toBeUndefined();
    expect(requireTimeoutMs('t', -0)).toBeUndefined();
  });

  it('returns a number of ms above 0, up to the longest timer delay, as it is', () => {
    expect(requireTimeoutMs('t', 1)).toBe(1);
    expect(requireTimeoutMs('t', 0.5)).toBe(0.5);
    expect(requireTimeoutMs('t', 10_000)).toBe(10_000);
    expect(requireTimeoutMs('t', maxDelayMs)).toBe(maxDelayMs);
  });

  it.each([-1, maxDelayMs + 1, Number.NaN, Number.POSITIVE_INFINITY, '100', null, true])(
    'rejects %o with ERR_INVALID_OPTION naming the option',
    (value) => {
      expect(() => requireTimeoutMs('handshakeTimeoutMs', value)).toThrow(
        expect.objectContaining({
          code: 'ERR_INVALID_OPTION',
          message: expect.stringMatching(/^invalid handshakeTimeoutMs: .* \(expected .*0 \(off\)/) as string,
        }),
      );
    },
  );
});

describe('requireDelayMs: a bound on an orderly wait', () => {
  it('keeps 0 as 0: do not wait', () => {
    expect(requireDelayMs('drainTimeoutMs', 0)).toBe(0);
    expect(requireDelayMs('drainTimeoutMs', maxDelayMs)).toBe(maxDelayMs);
  });

  it.each([-1, maxDelayMs + 1, Number.NaN, undefined])('rejects %o', (value) => {
    expect(() => requireDelayMs('drainTimeoutMs', value)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });
});
