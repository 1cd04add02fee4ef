import type { Socket } from 'node:net';
import { ConnectionClosedError, IdleTimeoutError } from '@socketserver/core';
import { requireInteger, requireTimeoutMs } from '@socketserver/core/strategy';

/** Options of {@link SocketReader}. */
export interface SocketReaderOptions {
  /**
   * How many received bytes may wait for the consumer before the socket is paused, so that a handler
   * that stops reading stops the peer through TCP flow control. A read that waits for bytes resumes the
   * socket whatever is buffered. Integer >= 1. Default 65 536 (64 KiB).
   */
  highWaterMarkBytes?: number;
  /**
   * How long one read may wait for bytes, in ms (at most 2^31 - 1), before it rejects with
   * `ERR_IDLE_TIMEOUT` (Python's `socket.settimeout`); the reader stays usable. `0` turns it off, as
   * in Node and Go (not a non-blocking read, as Python's `settimeout(0)`). Default `undefined`: off,
   * a read waits until bytes, EOF or a failure arrive.
   */
  timeoutMs?: number | undefined;
}

const defaultHighWaterMarkBytes = 64 * 1024;
const empty = Buffer.alloc(0);

/**
 * Pull-based reading from a socket, shared by `request.recv` and `rfile`. Received chunks wait in a
 * queue until a read takes them; past `highWaterMarkBytes` the socket is paused, and it resumes once
 * reads bring the queue back under the mark. Nothing is read before the first read asks.
 *
 * Every wait settles on data, EOF, error or close, so a read never hangs. A peer reset (ECONNRESET)
 * counts as EOF: the peer is gone. Any other failure, or a local close before EOF, rejects reads with
 * `ERR_CONNECTION_CLOSED` once the bytes received before it have been read. Its listeners are removed
 * when the socket closes.
 */
export class SocketReader {
  readonly #socket: Socket;
  readonly #highWaterMarkBytes: number;
  /** Received chunks not read yet, oldest first; `#bufferedLength` bytes in all. */
  readonly #chunks: Buffer[] = [];
  #bufferedLength = 0;
  #isFlowing = false;
  /** Nothing more will arrive: EOF, or `#failure`. */
  #isEnded = false;
  /** Reported by reads once the bytes buffered before it are read. */
  #failure: Error | undefined;
  /**
   * The oldest read waiting for bytes, kept in fields rather than an object: an idle connection
   * has one, so it costs no more than its promise's own resolvers.
   */
  #readMaxBytes = 0;
  #resolveRead: ((bytes: Buffer) => void) | undefined;
  #rejectRead: ((error: Error) => void) | undefined;
  /** Reads made while another waited (reads made at once), oldest first. */
  #laterReads: PendingRead[] | undefined;
  #timeoutMs: number | undefined;
  /** One timer for all waits: each wait refreshes it, and when it fires it fails the waits pending then. */
  #timer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, options?: SocketReaderOptions) {
    this.#socket = socket;
    // One reader per connection: the defaults take no options record and no validation.
    const highWaterMarkBytes = options?.highWaterMarkBytes ?? defaultHighWaterMarkBytes;
    this.#highWaterMarkBytes =
      highWaterMarkBytes === defaultHighWaterMarkBytes
        ? highWaterMarkBytes
        : requireInteger('highWaterMarkBytes', highWaterMarkBytes, 1);
    if (options?.timeoutMs !== undefined) this.timeoutMs = options.timeoutMs;
    if (socket.destroyed) {
      this.#onClose();
      return;
    }
    // Paused whatever state it came in, so that adding a 'data' listener reads nothing yet.
    socket.pause();
    // The listeners are shared by every reader (`this` is the socket): an idle connection costs
    // no closure each. They find the reader through the socket.
    (socket as ReaderSocket)[readerOf] = this;
    socket
      .on('data', SocketReader.#socketData)
      .on('end', SocketReader.#socketEnd)
      .on('error', SocketReader.#socketError)
      .on('close', SocketReader.#socketClose);
  }

  /** Bytes received and not read yet. */
  get bufferedLength(): number {
    return this.#bufferedLength;
  }

  /** See {@link SocketReaderOptions.timeoutMs}. Takes effect from the next wait. */
  get timeoutMs(): number | undefined {
    return this.#timeoutMs;
  }

  /** Set the read timeout, in ms; `undefined` or 0 for none (read back as `undefined`). Throws `ERR_INVALID_OPTION` when out of range. */
  set timeoutMs(value: number | undefined) {
    this.#timeoutMs = requireTimeoutMs('timeoutMs', value);
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Up to `maxBytes` bytes (an integer >= 1): what is buffered, after waiting for at least one byte
   * if nothing is. An empty Buffer means EOF. Never returns more than `maxBytes`.
   */
  read(maxBytes: number): Promise<Buffer> {
    // Checked inline: this runs once per read, and the validator only for its error.
    if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 1)) {
      try {
        requireInteger('maxBytes', maxBytes, 1);
      } catch (error) {
        const failure = error as Error; // ERR_INVALID_OPTION from the validation
        return Promise.reject(failure);
      }
    }
    // Not an async function: a read that waits holds one promise, not a suspended frame as well.
    if (this.#resolveRead === undefined) {
      if (this.#bufferedLength > 0) return Promise.resolve(this.#take(maxBytes));
      if (this.#isEnded) {
        return this.#failure === undefined ? Promise.resolve(empty) : Promise.reject(this.#failure);
      }
      // The common case, a read waiting alone: its resolvers go straight into the fields, without
      // the record Promise.withResolvers would allocate for them.
      const promise = new Promise<Buffer>(captureResolvers);
      this.#readMaxBytes = maxBytes;
      this.#resolveRead = capturedResolve;
      this.#rejectRead = capturedReject;
      capturedResolve = undefined;
      capturedReject = undefined;
      this.#waitForBytes();
      return promise;
    }
    const { promise, resolve, reject } = Promise.withResolvers<Buffer>();
    (this.#laterReads ??= []).push({ maxBytes, resolve, reject });
    this.#waitForBytes();
    return promise;
  }

  /** A read waits: let bytes flow, and (re)arm the read timeout. */
  #waitForBytes(): void {
    this.#resume();
    if (this.#timeoutMs !== undefined) {
      if (this.#timer === undefined) this.#timer = setTimeout(SocketReader.#timeOut, this.#timeoutMs, this);
      else this.#timer.refresh();
    }
  }

  #take(maxBytes: number): Buffer {
    const chunks = this.#chunks;
    const first = chunks[0] as Buffer;
    let taken: Buffer;
    if (first.length >= maxBytes || chunks.length === 1) {
      // The common case: one chunk, or the first one is enough.
      taken = first.length > maxBytes ? first.subarray(0, maxBytes) : first;
      if (taken === first) chunks.shift();
      else chunks[0] = first.subarray(maxBytes);
    } else {
      const parts: Buffer[] = [];
      let length = 0;
      while (length < maxBytes && chunks.length > 0) {
        const chunk = chunks[0] as Buffer;
        const room = maxBytes - length;
        if (chunk.length > room) {
          parts.push(chunk.subarray(0, room));
          chunks[0] = chunk.subarray(room);
          length += room;
        } else {
          parts.push(chunk);
          chunks.shift();
          length += chunk.length;
        }
      }
      taken = Buffer.concat(parts, length);
    }
    this.#bufferedLength -= taken.length;
    if (this.#bufferedLength <= this.#highWaterMarkBytes) this.#resume();
    return taken;
  }

  #resume(): void {
    if (this.#isFlowing || this.#isEnded) return;
    this.#isFlowing = true;
    this.#socket.resume();
  }

  #pause(): void {
    if (!this.#isFlowing) return;
    this.#isFlowing = false;
    this.#socket.pause();
  }

  /** Settle the waiting reads that can be: with bytes, at EOF, or all of them with `error`. */
  #settleReads(error?: Error): void {
    for (let resolve = this.#resolveRead; resolve !== undefined; resolve = this.#resolveRead) {
      if (error === undefined && this.#bufferedLength === 0 && !this.#isEnded) return;
      const reject = this.#rejectRead as (error: Error) => void;
      const maxBytes = this.#readMaxBytes;
      this.#promoteNextRead();
      if (error !== undefined) reject(error);
      else if (this.#bufferedLength > 0) resolve(this.#take(maxBytes));
      else if (this.#failure === undefined) resolve(empty);
      else reject(this.#failure);
    }
  }

  /** The oldest read's fields now hold the next read waiting, if any: the oldest has been served. */
  #promoteNextRead(): void {
    const next = this.#laterReads?.shift();
    this.#readMaxBytes = next?.maxBytes ?? 0;
    this.#resolveRead = next?.resolve;
    this.#rejectRead = next?.reject;
  }

  #end(failure: Error | undefined): void {
    if (this.#isEnded) return;
    this.#isEnded = true;
    this.#failure = failure;
    this.#settleReads();
  }

  #onData(chunk: Buffer): void {
    const resolve = this.#resolveRead;
    if (
      resolve !== undefined &&
      this.#bufferedLength === 0 &&
      chunk.length > 0 &&
      chunk.length <= this.#readMaxBytes
    ) {
      // The common case: one read waits and the chunk fits it. Handed over as it came, without
      // going through the queue (nothing is buffered, so nothing can be paused or resumed).
      this.#promoteNextRead();
      resolve(chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#bufferedLength += chunk.length;
    this.#settleReads();
    if (this.#bufferedLength > this.#highWaterMarkBytes) this.#pause();
  }

  #onClose(): void {
    const socket = this.#socket;
    const { errored, readableEnded } = socket;
    this.#end(
      errored !== null
        ? readFailure(errored)
        : readableEnded
          ? undefined
          : new ConnectionClosedError('the connection was closed before EOF while reading'),
    );
    socket
      .off('data', SocketReader.#socketData)
      .off('end', SocketReader.#socketEnd)
      .off('error', SocketReader.#socketError)
      .off('close', SocketReader.#socketClose);
    clearTimeout(this.#timer);
  }

  static #socketData(this: ReaderSocket, chunk: Buffer): void {
    const reader = this[readerOf];
    if (reader !== undefined) reader.#onData(chunk);
  }

  static #socketEnd(this: ReaderSocket): void {
    const reader = this[readerOf];
    if (reader !== undefined) reader.#end(undefined);
  }

  static #socketError(this: ReaderSocket, error: Error): void {
    const reader = this[readerOf];
    if (reader !== undefined) reader.#end(readFailure(error));
  }

  static #socketClose(this: ReaderSocket): void {
    const reader = this[readerOf];
    if (reader !== undefined) reader.#onClose();
  }

  static #timeOut(reader: SocketReader): void {
    if (reader.#timeoutMs !== undefined) reader.#settleReads(new IdleTimeoutError(reader.#timeoutMs));
  }
}

/** A read waiting for bytes. */
interface PendingRead {
  readonly maxBytes: number;
  readonly resolve: (bytes: Buffer) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The resolvers of the promise being built by {@link captureResolvers}, taken by the read that
 * built it at once: a shared executor instead of a closure or a `withResolvers` record per read.
 */
let capturedResolve: ((bytes: Buffer) => void) | undefined;
let capturedReject: ((error: Error) => void) | undefined;

function captureResolvers(resolve: (bytes: Buffer) => void, reject: (error: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

const readerOf = Symbol('SocketReader');
type ReaderSocket = Socket & { [readerOf]?: SocketReader };

/** What reads report after a socket error: nothing for a peer reset (EOF), else ERR_CONNECTION_CLOSED. */
function readFailure(error: Error): Error | undefined {
  if ((error as NodeJS.ErrnoException).code === 'ECONNRESET') return undefined;
  return new ConnectionClosedError(`the connection failed while reading: ${error.message}`, { cause: error });
}
