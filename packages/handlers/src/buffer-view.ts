/**
 * Buffers made the way Node.js makes its own (`FastBuffer` in `lib/internal/buffer.js`): a subclass
 * of Uint8Array whose instances are Buffers in every way a program can ask (`Buffer.isBuffer`,
 * `instanceof Buffer`, `constructor === Buffer`, every Buffer method, printed as `<Buffer …>`), at
 * the cost of a plain Uint8Array. `Buffer.from(arrayBuffer, offset, length)` checks its arguments
 * first and `buf.subarray()` looks up a constructor through `Symbol.species`: for a line echoed as
 * a view of the chunk it came in, those checks cost as much as the rest of the line's work.
 */
class BufferView extends Uint8Array {}
Object.setPrototypeOf(BufferView.prototype, Buffer.prototype as object);
Object.defineProperty(BufferView.prototype, 'constructor', {
  value: Buffer,
  writable: true,
  configurable: true,
});

/**
 * A Buffer over `length` bytes of `buffer` from `byteOffset`, no copy. The caller keeps the range
 * within `buffer` (this does not check it, as `Buffer.from` does).
 */
export function bufferView(buffer: ArrayBufferLike, byteOffset: number, length: number): Buffer {
  return new BufferView(buffer as ArrayBuffer, byteOffset, length) as unknown as Buffer;
}
