// The bytes the load generator sends: deterministic lines that carry their connection id and
// sequence number, so a lost, repeated, reordered or crossed echo cannot compare equal.
//   c000012 s0000000123 <filler that depends on both>\n

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** The smallest line: the header, one filler byte and the newline. */
export const minLineBytes = 22;
const headerBytes = 20;

/** Writes `value` as `width` decimal digits (the lowest ones) ending just before `end`. */
function writeDigits(target: Buffer, end: number, width: number, value: number): void {
  let rest = value;
  for (let position = end - 1; position >= end - width; position -= 1) {
    target[position] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
}

/** Builds the lines of one connection. */
export class LineContent {
  readonly lineBytes: number;
  readonly #connectionId: number;
  /** The alphabet repeated, long enough to take any line's filler from any offset. */
  readonly #filler: Buffer;

  constructor(connectionId: number, lineBytes: number) {
    if (!Number.isInteger(lineBytes) || lineBytes < minLineBytes) {
      throw new RangeError(`lines must be at least ${minLineBytes} bytes, not ${lineBytes}`);
    }
    this.lineBytes = lineBytes;
    this.#connectionId = connectionId;
    const repeats = Math.ceil(lineBytes / alphabet.length) + 1;
    this.#filler = Buffer.from(alphabet.repeat(repeats), 'latin1');
  }

  /** `count` consecutive lines, the first with sequence number `firstSequence`, in one buffer. */
  lines(firstSequence: number, count: number): Buffer {
    const { lineBytes } = this;
    const buffer = Buffer.allocUnsafe(lineBytes * count);
    const fillerBytes = lineBytes - headerBytes - 1;
    for (let index = 0; index < count; index += 1) {
      const start = index * lineBytes;
      const sequence = firstSequence + index;
      buffer[start] = 0x63; // c
      writeDigits(buffer, start + 7, 6, this.#connectionId);
      buffer[start + 7] = 0x20;
      buffer[start + 8] = 0x73; // s
      writeDigits(buffer, start + 19, 10, sequence);
      buffer[start + 19] = 0x20;
      const offset = (this.#connectionId * 7 + sequence) % alphabet.length;
      this.#filler.copy(buffer, start + headerBytes, offset, offset + fillerBytes);
      buffer[start + lineBytes - 1] = 0x0a;
    }
    return buffer;
  }
}
