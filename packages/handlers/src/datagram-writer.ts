import { SendError } from '@socketserver/core';
import { requireInteger } from '@socketserver/core/strategy';

const written: Promise<void> = Promise.resolve();

/** The largest UDP payload over IPv4, in bytes: 65 535 less the IP and UDP headers. */
const maxUDPPayload = 65_507;

/** Options of {@link DatagramWriter}. */
export interface DatagramWriterOptions {
  /**
   * The most bytes the writer collects, an integer >= 1: the reply is sent in one datagram, which
   * cannot be longer. Default 65 507, the largest UDP payload.
   */
  maxReplySize?: number;
}

/**
 * A datagram handler's `wfile`: collects what the handler writes, to be sent in one datagram when
 * it has finished, as Python's DatagramRequestHandler collects it in a `BytesIO`. Its `write` has
 * the call shape of `SocketWriter.write`, so a handler reads the same over a stream or a
 * datagram; it resolves at once, as nothing is sent yet.
 *
 * Bounded by `maxReplySize`: a write that would take the reply past it rejects with
 * `ERR_SEND_FAILED`, and from then on the writer collects nothing more (every later write rejects
 * the same way) and {@link DatagramWriter.hasOverflowed} is `true`.
 */
export class DatagramWriter {
  /** See {@link DatagramWriterOptions.maxReplySize}. */
  readonly maxReplySize: number;
  #chunks: Buffer[] = [];
  #writtenLength = 0;
  #overflow: SendError | undefined;

  constructor(options: DatagramWriterOptions = {}) {
    this.maxReplySize = requireInteger('maxReplySize', options.maxReplySize ?? maxUDPPayload, 1);
  }

  /** Bytes collected so far. */
  get writtenLength(): number {
    return this.#writtenLength;
  }

  /** Whether a write was refused for taking the reply past `maxReplySize`. */
  get hasOverflowed(): boolean {
    return this.#overflow !== undefined;
  }

  /**
   * Collect all of `data` (a string as UTF-8, a copy of bytes) and resolve at once. Rejects with
   * `ERR_SEND_FAILED`, collecting none of it, when the reply would exceed `maxReplySize`, or when an
   * earlier write did.
   */
  write(data: Uint8Array | string): Promise<void> {
    if (this.#overflow !== undefined) return Promise.reject(this.#overflow);
    if (data.length === 0) return written;
    const bytes = Buffer.from(data); // a copy: the reply is sent later, after the caller's buffer may change
    if (this.#writtenLength + bytes.length > this.maxReplySize) {
      this.#overflow = new SendError(
        `the reply would exceed maxReplySize (${this.maxReplySize} bytes): ` +
          `${this.#writtenLength} bytes written, ${bytes.length} more refused`,
      );
      return Promise.reject(this.#overflow);
    }
    this.#chunks.push(bytes);
    this.#writtenLength += bytes.length;
    return written;
  }

  /** Everything collected, in one Buffer (the writer's own: do not change it). */
  contents(): Buffer {
    if (this.#chunks.length !== 1) this.#chunks = [Buffer.concat(this.#chunks, this.#writtenLength)];
    return this.#chunks[0] as Buffer;
  }
}
