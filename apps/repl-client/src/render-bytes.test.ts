import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderBytes } from './render-bytes.js';

/** Reads a Python bytes literal back, as Python would: the inverse of renderBytes, for the property test. */
function parseBytesLiteral(literal: string): Buffer {
  const match = /^b(['"])(.*)\1$/s.exec(literal);
  if (match === null) throw new Error(`not a bytes literal: ${literal}`);
  const body = match[2] ?? '';
  const bytes: number[] = [];
  for (let index = 0; index < body.length; index += 1) {
    const char = body[index] ?? '';
    if (char !== '\\') {
      bytes.push(char.charCodeAt(0));
      continue;
    }
    const escaped = body[index + 1] ?? '';
    index += 1;
    const simple: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, '\\': 0x5c, "'": 0x27, '"': 0x22 };
    if (escaped in simple) bytes.push(simple[escaped] ?? 0);
    else if (escaped === 'x') {
      bytes.push(Number.parseInt(body.slice(index + 1, index + 3), 16));
      index += 2;
    } else throw new Error(`unknown escape \\${escaped}`);
  }
  return Buffer.from(bytes);
}

describe('renderBytes', () => {
  it("renders the recipe's response as Python does", () => {
    expect(renderBytes(Buffer.from('Hello\n'))).toBe("b'Hello\\n'");
  });

  it.each([
    ['', "b''"],
    ['tab\there\r\n', "b'tab\\there\\r\\n'"],
    ['back\\slash', "b'back\\\\slash'"],
    ["it's", 'b"it\'s"'],
    ['say "hi"', `b'say "hi"'`],
    [`both ' and "`, `b'both \\' and "'`],
    ['\u0000\u001f\u007f', "b'\\x00\\x1f\\x7f'"],
  ])('renders %j as %s', (text, expected) => {
    expect(renderBytes(Buffer.from(text, 'latin1'))).toBe(expected);
  });

  it('escapes bytes outside printable ASCII as \\xhh, as for UTF-8 text', () => {
    expect(renderBytes(Buffer.from('é€'))).toBe("b'\\xc3\\xa9\\xe2\\x82\\xac'");
    expect(renderBytes(Uint8Array.of(0x80, 0xff))).toBe("b'\\x80\\xff'");
  });

  it('stops after maxBytes and says how many bytes there were', () => {
    expect(renderBytes(Buffer.from('abcdef'), { maxBytes: 3 })).toBe("b'abc'... (6 bytes in all)");
    expect(renderBytes(Buffer.from('abc'), { maxBytes: 3 })).toBe("b'abc'");
    expect(renderBytes(Buffer.from('abc'), { maxBytes: 0 })).toBe("b''... (3 bytes in all)");
    expect(() => renderBytes(Buffer.from('abc'), { maxBytes: -1 })).toThrow(RangeError);
  });

  it('renders every byte string to a literal that reads back to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const literal = renderBytes(bytes);
        expect(literal).toMatch(/^b(['"])[\x20-\x7e]*\1$/);
        expect(parseBytesLiteral(literal).equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });
});
