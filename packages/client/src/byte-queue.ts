/** A FIFO of received chunks: appends without copying and copies only what is taken. */
export class ByteQueue {
  readonly #chunks: Buffer[] = [];
  #length = 0;

  /** Number of bytes queued. */
  get length(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Offset of the first `byte` in `[from, end)`, or -1. Lets callers resume a scan where it stopped. */
  indexOf(byte: number, from: number, end: number): number {
    let chunkStart = 0;
    for (const chunk of this.#chunks) {
      if (chunkStart >= end) break;
      const chunkEnd = chunkStart + chunk.length;
      if (chunkEnd > from) {
        const index = chunk.subarray(0, end - chunkStart).indexOf(byte, Math.max(0, from - chunkStart));
        if (index !== -1) return chunkStart + index;
      }
      chunkStart = chunkEnd;
    }
    return -1;
  }

  /** Removes and returns the first `byteCount` bytes (fewer if fewer are queued) as a new Buffer. */
  take(byteCount: number): Buffer {
    const count = Math.min(byteCount, this.#length);
    const parts: Buffer[] = [];
    for (let remaining = count; remaining > 0;) {
      const chunk = this.#chunks.shift();
      if (chunk === undefined) break;
      if (chunk.length > remaining) this.#chunks.unshift(chunk.subarray(remaining));
      const part = chunk.subarray(0, remaining);
      parts.push(part);
      remaining -= part.length;
    }
    this.#length -= count;
    return Buffer.concat(parts, count);
  }
}
