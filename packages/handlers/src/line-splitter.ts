import { LineTooLongError } from '@socketserver/core';
import { requireInteger } from '@socketserver/core/strategy';
import { bufferView } from './buffer-view.js';

const newline = 0x0a;
const empty = Buffer.alloc(0);

/**
 * Splits bytes into lines ending in `\n`, with a cap: the synchronous core of {@link LineReader}.
 * Push a chunk, then `shift()` lines until it returns `undefined`; at EOF, `end()` gives the final
 * unterminated line. Lines are the exact bytes received, `\n` included, so `\r\n` lines keep their `\r`.
 *
 * `maxLineLength` counts the bytes before the `\n` (a `\r` among them). Every byte is scanned once:
 * scanned bytes without a `\n` wait in `#partial`, which never holds more than `maxLineLength`. Only
 * `\n` ends a line; a peer that treats a bare `\r` as a line end will split differently.
 *
 * A line over the cap makes `shift()` throw {@link LineTooLongError} once; the splitter then discards
 * the rest of that line, up to and including its `\n`, storing none of it, and goes on with the next
 * line (as Tokio's `LinesCodec`). Whether the connection survives is the caller's choice.
 */
export class LineSplitter {
  /** The longest line accepted, in bytes, not counting its `\n`. */
  readonly maxLineLength: number;
  /** The last pushed chunk; its bytes from `#offset` on are not scanned yet. Lines are views of it. */
  #chunk: Buffer = empty;
  #offset = 0;
  /** The start of the current line: scanned, no `\n` in it, at most `maxLineLength` bytes. */
  #partial: Buffer[] | undefined;
  #partialLength = 0;
  /** Dropping the rest of an over-long line, up to its `\n`. */
  #isDiscarding = false;

  /** @param maxLineLength See {@link LineSplitter.maxLineLength}; an integer >= 1. */
  constructor(maxLineLength: number) {
    this.maxLineLength = requireInteger('maxLineLength', maxLineLength, 1);
  }

  /** Bytes held: the current partial line and what is not scanned yet. */
  get bufferedLength(): number {
    return this.#partialLength + this.#chunk.length - this.#offset;
  }

  /**
   * How many more bytes decide the current line: one past the cap, so that at most `maxLineLength + 1`
   * bytes of an unterminated line are ever held. Meant to size the next read after `shift()` returned
   * `undefined`.
   */
  get bytesWanted(): number {
    return this.#isDiscarding ? this.maxLineLength + 1 : this.maxLineLength + 1 - this.bufferedLength;
  }

  /** Add received bytes. Push after `shift()` returned `undefined`, or the unscanned bytes are copied. */
  push(chunk: Buffer): void {
    const unscanned = this.#chunk.subarray(this.#offset);
    this.#chunk = unscanned.length === 0 ? chunk : Buffer.concat([unscanned, chunk]);
    this.#offset = 0;
  }

  /**
   * The next complete line, `\n` included, or `undefined` when more bytes are needed. Throws
   * {@link LineTooLongError} once for a line over the cap, and then skips it. A line is a view of the
   * received bytes, not a copy, unless it arrived in pieces.
   */
  shift(): Buffer | undefined {
    const chunk = this.#chunk;
    let start = this.#offset;
    if (this.#isDiscarding) {
      const skipped = chunk.indexOf(newline, start) + 1;
      if (skipped === 0) {
        this.#clear();
        return undefined;
      }
      start = this.#offset = skipped;
      this.#isDiscarding = false;
    }
    // A line may reach as far as the cap, plus its `\n`.
    const limit = start + this.maxLineLength + 1 - this.#partialLength;
    const lineEnd = chunk.indexOf(newline, start) + 1;
    if (lineEnd > 0 && lineEnd <= limit) {
      if (lineEnd === chunk.length)
        this.#clear(); // all scanned: hold no reference to it
      else this.#offset = lineEnd;
      const tail = bufferView(chunk.buffer, chunk.byteOffset + start, lineEnd - start);
      return this.#partialLength === 0 ? tail : this.#takePartial(tail);
    }
    if (chunk.length >= limit) {
      // No `\n` within the cap: the line is too long.
      this.#partial = undefined;
      this.#partialLength = 0;
      this.#offset = limit;
      this.#isDiscarding = true;
      if (limit === chunk.length) this.#clear();
      throw new LineTooLongError(this.maxLineLength);
    }
    if (chunk.length > start) {
      (this.#partial ??= []).push(chunk.subarray(start));
      this.#partialLength += chunk.length - start;
    }
    this.#clear();
    return undefined;
  }

  /** At EOF, after `shift()` returned `undefined`: the final unterminated line, or an empty Buffer. */
  end(): Buffer {
    const rest = this.#isDiscarding ? empty : this.#takePartial(this.#chunk.subarray(this.#offset));
    this.#clear();
    this.#isDiscarding = false;
    return rest;
  }

  /** Remove up to `maxBytes` buffered bytes, oldest first, for reads that ignore lines. Ends discarding. */
  take(maxBytes: number): Buffer {
    this.#isDiscarding = false;
    const partial = this.#takePartial(empty);
    if (partial.length >= maxBytes) {
      const rest = partial.subarray(maxBytes);
      if (rest.length > 0) this.#partial = [rest];
      this.#partialLength = rest.length;
      return partial.subarray(0, maxBytes);
    }
    const start = this.#offset;
    const tail = this.#chunk.subarray(start, start + maxBytes - partial.length);
    this.#offset = start + tail.length;
    return partial.length === 0 ? tail : Buffer.concat([partial, tail]);
  }

  /** Nothing left unscanned: let go of the chunk. */
  #clear(): void {
    this.#chunk = empty;
    this.#offset = 0;
  }

  /** The partial line followed by `tail`, leaving no partial line. */
  #takePartial(tail: Buffer): Buffer {
    const parts = this.#partial;
    const length = this.#partialLength + tail.length;
    this.#partial = undefined;
    this.#partialLength = 0;
    return parts === undefined ? tail : Buffer.concat([...parts, tail], length);
  }
}
