import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineReader } from './line-reader.js';
import { ChunkSource } from './test-support/chunk-source.js';

const bytes = (text: string): Buffer => Buffer.from(text);

async function readAllLines(reader: LineReader): Promise<Buffer[]> {
  const lines: Buffer[] = [];
  for await (const line of reader) lines.push(line);
  return lines;
}

describe('LineReader', () => {
  it('reads lines with their \\n, then the final unterminated line, then empty Buffers', async () => {
    const reader = new LineReader(new ChunkSource('one\ntwo\r\nthree', [3]), { maxLineLength: 16 });
    expect(await reader.readline()).toEqual(bytes('one\n'));
    expect(await reader.readline()).toEqual(bytes('two\r\n'));
    expect(await reader.readline()).toEqual(bytes('three'));
    expect(await reader.readline()).toEqual(Buffer.alloc(0));
    expect(await reader.readline()).toEqual(Buffer.alloc(0));
  });

  it('iterates over the lines; leaving the loop early keeps the reader usable', async () => {
    const reader = new LineReader(new ChunkSource('a\nb\nc\nd'), { maxLineLength: 16 });
    for await (const line of reader) {
      expect(line).toEqual(bytes('a\n'));
      break;
    }
    expect(await readAllLines(reader)).toEqual([bytes('b\n'), bytes('c\n'), bytes('d')]);
  });

  it('reads one stream, as a Python file: next(), readline() and its iterator take turns', async () => {
    const reader = new LineReader(new ChunkSource('a\nb\nc\ntoo-long-line\nd\ne\n', [1]), {
      maxLineLength: 4,
    });
    expect(await reader.next()).toEqual({ done: false, value: bytes('a\n') });
    expect(await reader.readline()).toEqual(bytes('b\n'));
    expect(reader.bufferedLine()).toBeUndefined(); // nothing buffered: fed one byte at a time
    expect(await reader.next()).toEqual({ done: false, value: bytes('c\n') });
    await expect(reader.next()).rejects.toMatchObject({ code: 'ERR_LINE_TOO_LONG' });
    const iterator = reader[Symbol.asyncIterator]();
    expect(iterator[Symbol.asyncIterator]()).toBe(iterator);
    expect(await iterator.next()).toEqual({ done: false, value: bytes('d\n') });
    expect(await reader.next()).toEqual({ done: false, value: bytes('e\n') });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(await reader.next()).toEqual({ done: true, value: undefined });
    expect(await reader.return()).toEqual({ done: true, value: undefined });
  });

  it('read(n) returns n bytes across lines, fewer at EOF, and mixes with readline', async () => {
    const reader = new LineReader(new ChunkSource('head\nbody-bytes\ntail', [2]), { maxLineLength: 16 });
    expect(await reader.readline()).toEqual(bytes('head\n'));
    expect(await reader.read(4)).toEqual(bytes('body'));
    expect(await reader.readline()).toEqual(bytes('-bytes\n'));
    expect(await reader.read(0)).toEqual(Buffer.alloc(0));
    expect(await reader.read(100)).toEqual(bytes('tail'));
    expect(await reader.read(100)).toEqual(Buffer.alloc(0));
  });

  it('read() without a size reads to EOF, capped at maxLineLength', async () => {
    const fits = new LineReader(new ChunkSource('ab\ncd\n', [1]), { maxLineLength: 6 });
    expect(await fits.read()).toEqual(bytes('ab\ncd\n'));
    const source = new ChunkSource('x'.repeat(1000), [3]);
    const overCap = new LineReader(source, { maxLineLength: 6 });
    await expect(overCap.read()).rejects.toMatchObject({ code: 'ERR_LINE_TOO_LONG', maxLineLength: 6 });
    expect(source.maxRequested).toBeLessThanOrEqual(7);
  });

  it('rejects a bad size without throwing, and a cap that is not a positive integer at construction', async () => {
    const reader = new LineReader(new ChunkSource(''), { maxLineLength: 4 });
    await expect(reader.read(-1)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(reader.read(1.5)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(() => new LineReader(new ChunkSource(''), { maxLineLength: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  it('fails an over-long line once; a reader that catches it goes on with the next line', async () => {
    const reader = new LineReader(new ChunkSource(`ok\n${'x'.repeat(100)}\nnext\n`, [7]), {
      maxLineLength: 8,
    });
    expect(await reader.readline()).toEqual(bytes('ok\n'));
    await expect(reader.readline()).rejects.toMatchObject({ code: 'ERR_LINE_TOO_LONG' });
    expect(await reader.readline()).toEqual(bytes('next\n'));
    expect(await reader.readline()).toEqual(Buffer.alloc(0));
  });

  it('never pulls more than the cap plus one byte at once, and yields the lines sent (property)', async () => {
    const content = fc
      .uint8Array({ maxLength: 30 })
      .map((octets) => octets.map((octet) => (octet === 0x0a ? 0 : octet)));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 30, max: 40 }),
        fc.array(content, { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }),
        async (maxLineLength, contents, chunkLengths) => {
          const lines = contents.map((octets) => Buffer.concat([octets, bytes('\n')]));
          const source = new ChunkSource(Buffer.concat(lines), chunkLengths);
          const reader = new LineReader(source, { maxLineLength });
          expect(await readAllLines(reader)).toEqual(lines);
          expect(source.maxRequested).toBeLessThanOrEqual(maxLineLength + 1);
        },
      ),
    );
  });
});
