import { LineTooLongError } from '@socketserver/core';
import { requireInteger } from '@socketserver/core/strategy';
import { LineSplitter } from './line-splitter.js';
import type { BufferedInput } from './socket-writer.js';

/** Where a {@link LineReader} pulls bytes from; a `SocketRequest` is one. */
export interface ByteSource {
  /** Up to `maxBytes` bytes, at least one; an empty Buffer at EOF. */
  recv(maxBytes: number): Promise<Buffer>;
  /** Bytes received and not taken by `recv` yet, if the source knows. */
  readonly bufferedLength?: number;
}

/** Options of {@link LineReader}. */
export interface LineReaderOptions {
  /**
   * The longest line accepted, in bytes, not counting its `\n` (a `\r` before it counts). An integer
   * >= 1. Required, with no default: a reader without a cap lets a peer fill memory with one line.
   * It also caps `read()` without a size.
   */
  maxLineLength: number;
}

/**
 * A handler's `rfile`: reads lines, pulling bytes from its source only when it needs more, and never
 * more than can complete the current line, so it holds at most `maxLineLength + 1` bytes of an
 * unterminated line. Lines are the exact bytes received, `\n` included; at EOF the final unterminated
 * line is delivered, then reads return an empty Buffer. See {@link LineSplitter} for the rules.
 *
 * A line over the cap fails the read with `ERR_LINE_TOO_LONG`. Uncaught, that ends the connection; a
 * handler that catches it and reads on gets the line after the over-long one.
 *
 * Like Python's buffered `rfile`, it may hold bytes past the current line: once it is used, read
 * through it, not through `request.recv`.
 */
export class LineReader implements AsyncIterableIterator<Buffer, undefined>, BufferedInput {
  readonly #source: ByteSource;
  readonly #splitter: LineSplitter;
  #isAtEof = false;
  /** What a read that waits hands its chunk to: one function per reader, made on first use. */
  #onChunkForLine: ((chunk: Buffer) => Buffer | Promise<Buffer>) | undefined;
  #onChunkForNext:
    | ((chunk: Buffer) => IteratorResult<Buffer, undefined> | Promise<IteratorResult<Buffer, undefined>>)
    | undefined;

  constructor(source: ByteSource, options: LineReaderOptions) {
    this.#source = source;
    this.#splitter = new LineSplitter(options.maxLineLength);
  }

  /** Bytes received and not read through this reader yet: its own and its source's. */
  get bufferedLength(): number {
    return this.#splitter.bufferedLength + (this.#source.bufferedLength ?? 0);
  }

  /** See {@link LineReaderOptions.maxLineLength}. */
  get maxLineLength(): number {
    return this.#splitter.maxLineLength;
  }

  /**
   * The next line if it is buffered already, without waiting; `undefined` otherwise (then
   * `readline()` waits for it). Throws `ERR_LINE_TOO_LONG` as `readline()` rejects with it.
   */
  bufferedLine(): Buffer | undefined {
    return this.#splitter.shift();
  }

  /** The next line, `\n` included; the final line may lack it. An empty Buffer at EOF, as in Python. */
  readline(): Promise<Buffer> {
    // A line already buffered is returned without an async function's machinery: with pipelined
    // input, most lines are.
    let line: Buffer | undefined;
    try {
      line = this.#splitter.shift();
    } catch (error) {
      const failure = error as Error; // what the validation or the splitter throws
      return Promise.reject(failure);
    }
    return line === undefined ? this.#readlineFromSource() : Promise.resolve(line);
  }

  /**
   * The next line once the source has sent what completes it. A promise chain, not an async
   * function: a handler waiting for its next line, the usual state of an idle connection, then
   * holds one reaction, not a suspended frame.
   */
  #readlineFromSource(): Promise<Buffer> {
    if (this.#isAtEof) return Promise.resolve(this.#splitter.end());
    this.#onChunkForLine ??= (chunk) => this.#lineAfter(chunk) ?? this.#readlineFromSource();
    return this.#source.recv(this.#splitter.bytesWanted).then(this.#onChunkForLine);
  }

  /** Take in a chunk read from the source (empty: EOF); the line it completes, if any. */
  #lineAfter(chunk: Buffer): Buffer | undefined {
    if (chunk.length === 0) this.#isAtEof = true;
    else this.#splitter.push(chunk);
    return this.#splitter.shift();
  }

  /**
   * `size` bytes (an integer >= 0), or fewer at EOF, whatever lines they hold. Without `size`,
   * everything up to EOF, treated as one final line: more than `maxLineLength` bytes fails with
   * `ERR_LINE_TOO_LONG`, and the bytes read are dropped.
   */
  async read(size?: number): Promise<Buffer> {
    if (size !== undefined) return this.#readUpTo(requireInteger('size', size, 0));
    const rest = await this.#readUpTo(this.maxLineLength + 1);
    if (rest.length > this.maxLineLength) throw new LineTooLongError(this.maxLineLength);
    return rest;
  }

  /**
   * The lines up to EOF, as `for line in rfile` in Python. The iterator reads the same stream as
   * `next()` and `readline()` (they take turns, as on a Python file), and leaving the loop early
   * keeps the reader usable.
   *
   * Made for `for await`, it is the cheapest one V8 allows: a buffered line comes in one result
   * object and one settled promise that the iterator reuses, so a line costs no allocation but its
   * Buffer view. Like `for await`, read a result's `value` before asking for the next one; call
   * the reader's own `next()` to keep results.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer, undefined> {
    return new LineIterator(this, this.#splitter);
  }

  /**
   * The iterator protocol over `readline()`: the next line, `done` at EOF. A line already buffered
   * makes its result at once; one that must be read chains once on the source, so a handler
   * waiting in `for await` holds one promise reaction, nothing more.
   */
  next(): Promise<IteratorResult<Buffer, undefined>> {
    let line: Buffer | undefined;
    try {
      line = this.#splitter.shift();
    } catch (error) {
      const failure = error as Error; // ERR_LINE_TOO_LONG
      return Promise.reject(failure);
    }
    return line === undefined ? this.#nextFromSource() : Promise.resolve({ done: false, value: line });
  }

  /** Leaving a `for await` loop early: nothing to release, the reader stays usable. */
  return(): Promise<IteratorResult<Buffer, undefined>> {
    return Promise.resolve(iterationDone);
  }

  #nextFromSource(): Promise<IteratorResult<Buffer, undefined>> {
    if (this.#isAtEof) return Promise.resolve(toIteratorResult(this.#splitter.end()));
    this.#onChunkForNext ??= (chunk) => {
      const line = this.#lineAfter(chunk);
      return line === undefined ? this.#nextFromSource() : { done: false, value: line };
    };
    return this.#source.recv(this.#splitter.bytesWanted).then(this.#onChunkForNext);
  }

  /** `limit` bytes, or fewer at EOF: the buffered ones first. */
  async #readUpTo(limit: number): Promise<Buffer> {
    const first = this.#splitter.take(limit);
    const parts = [first];
    let length = first.length;
    while (length < limit && !this.#isAtEof) {
      const chunk = await this.#recv(limit - length);
      parts.push(chunk);
      length += chunk.length;
    }
    return parts.length === 1 ? first : Buffer.concat(parts, length);
  }

  async #recv(maxBytes: number): Promise<Buffer> {
    const chunk = await this.#source.recv(maxBytes);
    if (chunk.length === 0) this.#isAtEof = true;
    return chunk;
  }
}

const iterationDone: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * A {@link LineReader}'s iterator for `for await`: a buffered line comes in one result object and one
 * settled promise, both reused (made at the first buffered line, so a connection that only waits
 * never makes them); a line that must be waited for comes through the reader's own `next()`.
 */
class LineIterator implements AsyncIterableIterator<Buffer, undefined> {
  readonly #reader: LineReader;
  readonly #splitter: LineSplitter;
  #result: { done: false; value: Buffer } | undefined;
  #settled: Promise<IteratorResult<Buffer, undefined>> | undefined;

  constructor(reader: LineReader, splitter: LineSplitter) {
    this.#reader = reader;
    this.#splitter = splitter;
  }

  next(): Promise<IteratorResult<Buffer, undefined>> {
    let line: Buffer | undefined;
    try {
      line = this.#splitter.shift();
    } catch (error) {
      const failure = error as Error; // ERR_LINE_TOO_LONG
      return Promise.reject(failure);
    }
    if (line === undefined) return this.#reader.next();
    if (this.#result === undefined) {
      this.#result = { done: false, value: line };
      this.#settled = Promise.resolve(this.#result);
    } else this.#result.value = line;
    return this.#settled as Promise<IteratorResult<Buffer, undefined>>;
  }

  return(): Promise<IteratorResult<Buffer, undefined>> {
    return this.#reader.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function toIteratorResult(line: Buffer): IteratorResult<Buffer, undefined> {
  return line.length > 0 ? { done: false, value: line } : iterationDone;
}
