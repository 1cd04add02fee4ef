/**
 * `text` made safe to print on one line, as Python's `repr()` shows a `str` between its quotes:
 * what Python counts as printable (`str.isprintable()`) stays as it is, non-ASCII letters and
 * emoji included, and a backslash is doubled; tab, newline and carriage return become `\t`, `\n`
 * and `\r`; every other character becomes `\xNN`, `\uNNNN` or `\UNNNNNNNN` (lowercase hex, the
 * shortest that fits). Escaped that way: the C0 controls, DEL and the C1 controls (an escape
 * sequence such as `\x1b[2J` cannot reach a terminal), the line and paragraph separators U+2028
 * and U+2029, every format character (the bidi overrides U+202A-U+202E and isolates
 * U+2066-U+2069 among them), lone surrogates, private-use and unassigned code points, and every
 * space but U+0020.
 *
 * The result is not quoted, and is unambiguous: each backslash in it starts an escape.
 * {@link formatClientAddress} and {@link formatUnixPath} quote it as Python's `repr()` does;
 * every client address, socket path and error message this library prints goes through it, so
 * a peer cannot forge lines on stdout or stderr. Printable ASCII other than the backslash comes
 * back unchanged, and the same string when nothing needs escaping.
 *
 * (`@socketserver/client`, which cannot depend on this package, has a copy of this file, kept
 * identical by a test.)
 */
export function printable(text: string): string {
  // Most addresses and paths are printable ASCII with no backslash: no copy, no regex with `u`.
  if (plainAscii.test(text)) return text;
  return text.replace(needsEscape, escape);
}

const plainAscii = /^[\x20-\x5b\x5d-\x7e]*$/;

/**
 * What Python's `str.isprintable()` refuses (categories Cc, Cf, Cs, Co, Cn, Zl, Zp, and Zs but the
 * space), and the backslash. With the `u` flag a lone surrogate is a code point of its own (Cs).
 */
const needsEscape = /[\\\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?! )\p{Zs}/gu;

const shortEscapes: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

function escape(character: string): string {
  const short = shortEscapes[character];
  if (short !== undefined) return short;
  const codePoint = character.codePointAt(0) ?? 0;
  const hex = codePoint.toString(16);
  if (codePoint < 0x100) return `\\x${hex.padStart(2, '0')}`;
  if (codePoint < 0x10000) return `\\u${hex.padStart(4, '0')}`;
  return `\\U${hex.padStart(8, '0')}`;
}
