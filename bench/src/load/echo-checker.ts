// Checks an echo byte for byte against what was sent, in order, as it arrives.

/** The bytes sent on one connection and not yet echoed, compared with what comes back. */
export class EchoChecker {
  readonly #queue: Buffer[] = [];
  /** How far into #queue[0] the echo has come. */
  #headOffset = 0;
  #outstandingBytes = 0;
  #receivedBytes = 0;

  /** Bytes sent and not yet echoed. */
  get outstandingBytes(): number {
    return this.#outstandingBytes;
  }

  /** Bytes echoed and found equal to what was sent. */
  get receivedBytes(): number {
    return this.#receivedBytes;
  }

  /** Records bytes just sent: their echo is expected next, after what is already outstanding. */
  expect(sent: Buffer): void {
    this.#queue.push(sent);
    this.#outstandingBytes += sent.length;
  }

  /** Checks `chunk` as the next bytes of the echo; returns what is wrong, or undefined. */
  check(chunk: Buffer): string | undefined {
    let position = 0;
    while (position < chunk.length) {
      const head = this.#queue[0];
      if (head === undefined) {
        return `${chunk.length - position} extra byte(s) after ${this.#receivedBytes} echoed`;
      }
      const take = Math.min(head.length - this.#headOffset, chunk.length - position);
      if (chunk.compare(head, this.#headOffset, this.#headOffset + take, position, position + take) !== 0) {
        return `the echo differs from what was sent, within bytes ${this.#receivedBytes}–${this.#receivedBytes + take}`;
      }
      position += take;
      this.#headOffset += take;
      this.#receivedBytes += take;
      this.#outstandingBytes -= take;
      if (this.#headOffset === head.length) {
        this.#queue.shift();
        this.#headOffset = 0;
      }
    }
    return undefined;
  }
}
