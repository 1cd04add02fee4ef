import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { printable } from './printable.js';

/** Python's escapes read back: what `printable` wrote must name one string only. */
function unescape(text: string): string {
  return text.replace(/\\(?:([\\tnr])|x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8}))/g, (...groups) => {
    const [, short, byte, unit, codePoint] = groups as (string | undefined)[];
    if (short !== undefined) return ({ '\\': '\\', t: '\t', n: '\n', r: '\r' } as const)[short] ?? '';
    if (codePoint !== undefined) return String.fromCodePoint(parseInt(codePoint, 16));
    return String.fromCharCode(parseInt(byte ?? unit ?? '', 16));
  });
}

/**
 * What must never reach a terminal: a control (Cc is exactly U+0000-U+001F, DEL and U+0080-U+009F),
 * the line and paragraph separators, bidi overrides and isolates.
 */
const forbidden = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
/** A surrogate with no partner. */
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Any UTF-16 text: every code unit (lone surrogates too), every code point, and the usual suspects. */
const anyText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      '\n',
      '\r',
      '\t',
      '\\',
      '\x1b',
      '\x7f',
      '\x85',
      '\u2028',
      '\u202e',
      '\u2066',
      '\ud800',
      'é',
    ),
    fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
    fc.integer({ min: 0, max: 0x10ffff }).map((codePoint) => String.fromCodePoint(codePoint)),
  ),
  maxLength: 40,
});

describe('printable', () => {
  it('escapes tab, newline and carriage return as Python does, and doubles a backslash', () => {
    expect(printable('/tmp/a\nb\rc\td')).toBe('/tmp/a\\nb\\rc\\td');
    expect(printable('C:\\sock')).toBe('C:\\\\sock');
    expect(printable('\\n')).toBe('\\\\n'); // a backslash and an n, not a newline
  });

  it('escapes other C0 controls, DEL and C1 controls as \\xNN: no escape sequence gets through', () => {
    expect(printable('/tmp/\x1b[2J\x1b]0;title\x07.sock')).toBe('/tmp/\\x1b[2J\\x1b]0;title\\x07.sock');
    expect(printable('\0\x01\x7f\x80\x85\x9b\x9f')).toBe('\\x00\\x01\\x7f\\x80\\x85\\x9b\\x9f');
  });

  it('escapes separators, bidi overrides and isolates, other format characters and lone surrogates as \\uNNNN', () => {
    expect(printable('a\u2028b\u2029c')).toBe('a\\u2028b\\u2029c');
    expect(printable('\u202a\u202b\u202c\u202d\u202e')).toBe('\\u202a\\u202b\\u202c\\u202d\\u202e');
    expect(printable('\u2066\u2067\u2068\u2069')).toBe('\\u2066\\u2067\\u2068\\u2069');
    expect(printable('\u200b\u200e\ufeff')).toBe('\\u200b\\u200e\\ufeff');
    expect(printable('x\ud800y\udc00')).toBe('x\\ud800y\\udc00');
  });

  it('escapes spaces other than U+0020 and astral non-printables as Python does', () => {
    expect(printable('a b\xa0c\u3000')).toBe('a b\\xa0c\\u3000');
    expect(printable('\u{e0001}\u{f0000}')).toBe('\\U000e0001\\U000f0000');
  });

  it('keeps printable text as it is: non-ASCII letters, CJK, emoji (a surrogate pair)', () => {
    for (const text of ['', '/run/app.sock', 'é', '中文.sock', '😀', 'it\'s "quoted"']) {
      expect(printable(text)).toBe(text);
    }
  });

  it('property: nothing that drives a terminal or breaks a line is left', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const shown = printable(text);
        expect(shown).not.toMatch(forbidden);
        expect(shown).not.toMatch(loneSurrogate);
        expect(shown).not.toMatch(/\p{C}|\p{Zl}|\p{Zp}/u);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: printable ASCII is unchanged, but for each backslash doubled', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[\x20-\x7e]*$/), (text) => {
        expect(printable(text)).toBe(text.replaceAll('\\', '\\\\'));
      }),
      { numRuns: 1000 },
    );
  });

  it('property: unambiguous (it reads back), and its output needs no escape but of its backslashes', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const shown = printable(text);
        expect(unescape(shown)).toBe(text);
        expect(printable(shown)).toBe(shown.replaceAll('\\', '\\\\'));
      }),
      { numRuns: 2000 },
    );
  });
});
