import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from './line-splitter.js';

const tooLong = 'too long';

/** Line contents: random bytes, `\r` and `\0` included, with no `\n`. */
const lineContent = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc
    .uint8Array({ maxLength })
    .map((bytes) => Buffer.from(bytes.map((byte) => (byte === 0x0a ? 0x0d : byte))));

/** Lines ending in `\n`, the last one possibly not (then not empty). */
const lineSet = (maxLength: number): fc.Arbitrary<Buffer[]> =>
  fc
    .tuple(fc.array(lineContent(maxLength), { maxLength: 20 }), lineContent(maxLength))
    .map(([terminated, last]) => [
      ...terminated.map((content) => Buffer.concat([content, Buffer.from('\n')])),
      ...(last.length > 0 ? [last] : []),
    ]);

/** Feeds `data` in chunks of the given lengths (cycled), as LineReader does; lines or `tooLong` marks. */
function split(splitter: LineSplitter, data: Buffer, chunkLengths: readonly number[]): (Buffer | string)[] {
  const results: (Buffer | string)[] = [];
  let offset = 0;
  for (let call = 0; offset < data.length; call++) {
    const chunk = data.subarray(offset, offset + (chunkLengths[call % chunkLengths.length] ?? 1));
    offset += chunk.length;
    splitter.push(chunk);
    for (;;) {
      try {
        const line = splitter.shift();
        if (line === undefined) break;
        results.push(line);
      } catch (error) {
        expect(error).toMatchObject({ code: 'ERR_LINE_TOO_LONG', maxLineLength: splitter.maxLineLength });
        results.push(tooLong);
      }
    }
    // What waits for the rest of a line is never more than the cap.
    expect(splitter.bufferedLength).toBeLessThanOrEqual(splitter.maxLineLength);
  }
  const last = splitter.end();
  if (last.length > 0) results.push(last);
  return results;
}

describe('LineSplitter', () => {
  it('yields exactly the lines sent, however they are chunked', () => {
    fc.assert(
      fc.property(
        lineSet(40),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
        (lines, chunkLengths) => {
          const results = split(new LineSplitter(40), Buffer.concat(lines), chunkLengths);
          expect(results).toEqual(lines);
        },
      ),
    );
  });

  it('reports each line over the cap once, and keeps every other line, however chunked', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        lineSet(20),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1 }),
        (maxLineLength, lines, chunkLengths) => {
          const results = split(new LineSplitter(maxLineLength), Buffer.concat(lines), chunkLengths);
          const contentLength = (line: Buffer): number => line.length - (line.at(-1) === 0x0a ? 1 : 0);
          expect(results).toEqual(
            lines.map((line) => (contentLength(line) > maxLineLength ? tooLong : line)),
          );
        },
      ),
    );
  });

  it('counts the cap without the \\n: a line at the cap passes, one byte more fails', () => {
    const splitter = new LineSplitter(4);
    splitter.push(Buffer.from('abcd\nabcde\nok\n'));
    expect(splitter.shift()).toEqual(Buffer.from('abcd\n'));
    expect(() => splitter.shift()).toThrow(expect.objectContaining({ code: 'ERR_LINE_TOO_LONG' }));
    expect(splitter.shift()).toEqual(Buffer.from('ok\n'));
    expect(splitter.shift()).toBeUndefined();
  });

  it('keeps \\r\\n endings and asks for no more than the cap plus one byte', () => {
    const splitter = new LineSplitter(8);
    expect(splitter.bytesWanted).toBe(9);
    splitter.push(Buffer.from('a\r\nbc'));
    expect(splitter.shift()).toEqual(Buffer.from('a\r\n'));
    expect(splitter.shift()).toBeUndefined();
    expect(splitter.bytesWanted).toBe(7);
    expect(splitter.end()).toEqual(Buffer.from('bc'));
    expect(splitter.end()).toEqual(Buffer.alloc(0));
  });

  it('rejects a cap that is not a positive integer', () => {
    for (const maxLineLength of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new LineSplitter(maxLineLength)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      );
    }
  });
});
