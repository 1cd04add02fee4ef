import type { ByteSource } from '../line-reader.js';

/**
 * A {@link ByteSource} over fixed bytes: hands them out in the given chunk lengths (cycled), never
 * more than asked, then EOF.
 */
export class ChunkSource implements ByteSource {
  /** The largest `maxBytes` a reader asked for. */
  maxRequested = 0;
  readonly #data: Buffer;
  readonly #chunkLengths: readonly number[];
  #offset = 0;
  #calls = 0;

  constructor(data: Buffer | string, chunkLengths: readonly number[] = [Number.POSITIVE_INFINITY]) {
    this.#data = Buffer.from(data);
    this.#chunkLengths = chunkLengths;
  }

  recv(maxBytes: number): Promise<Buffer> {
    this.maxRequested = Math.max(this.maxRequested, maxBytes);
    const chunkLength = this.#chunkLengths[this.#calls++ % this.#chunkLengths.length] ?? 1;
    const end = this.#offset + Math.min(maxBytes, chunkLength);
    const chunk = this.#data.subarray(this.#offset, end);
    this.#offset += chunk.length;
    return Promise.resolve(chunk);
  }
}
