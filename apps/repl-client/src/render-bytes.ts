/** Options of {@link renderBytes}. */
export interface RenderBytesOptions {
  /**
   * Most bytes rendered, an integer of at least 0; past it the literal stops and
   * `... (N bytes in all)` follows. Default (`undefined`): every byte, as Python prints them.
   */
  maxBytes?: number;
}

const backslash = 0x5c;
const singleQuote = 0x27;
const doubleQuote = 0x22;
const namedEscapes: ReadonlyMap<number, string> = new Map([
  [0x09, '\\t'],
  [0x0a, '\\n'],
  [0x0d, '\\r'],
  [backslash, '\\\\'],
]);

/**
 * Renders bytes as Python's `repr()` renders a `bytes` object, so `recv` results read like the
 * recipe's `Response: b'Hello\n'`: printable ASCII as is; `\t`, `\n`, `\r`, `\\` and the quote
 * escaped; every other byte as `\xhh`. Single quotes, unless the bytes hold a `'` and no `"`.
 */
export function renderBytes(bytes: Uint8Array, options: RenderBytesOptions = {}): string {
  const { maxBytes } = options;
  if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
    throw new RangeError(`maxBytes must be an integer of at least 0, got ${maxBytes}`);
  }
  const shown = maxBytes === undefined || maxBytes >= bytes.length ? bytes : bytes.subarray(0, maxBytes);
  const quote = shown.includes(singleQuote) && !shown.includes(doubleQuote) ? doubleQuote : singleQuote;
  let text = '';
  for (const byte of shown) text += renderByte(byte, quote);
  const quoteText = String.fromCharCode(quote);
  const literal = `b${quoteText}${text}${quoteText}`;
  return shown.length === bytes.length ? literal : `${literal}... (${bytes.length} bytes in all)`;
}

function renderByte(byte: number, quote: number): string {
  const named = namedEscapes.get(byte);
  if (named !== undefined) return named;
  if (byte === quote) return `\\${String.fromCharCode(byte)}`;
  if (byte >= 0x20 && byte < 0x7f) return String.fromCharCode(byte);
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}
