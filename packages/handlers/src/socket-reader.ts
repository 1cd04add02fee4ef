import type { Socket } from 'node:net';
import {
  ConnectionClosedError,
  IdleTimeoutError,
  requireInteger,
  requireTimeoutMs,
} from '@socketserver/core';

/** Options of {@link SocketReader}. */
export interface SocketReaderOptions {
  /**
   * How many received bytes may wait for the consumer before the socket is paused, so that a handler
   * that stops reading stops the peer through TCP flow control. A read that waits for bytes resumes the
   * socket whatever is buffered. Integer >= 1. Default 65 536 (64 KiB).
   */
  highWaterMarkBytes?: number;
  /**
   * How long one read may wait for bytes, in ms (> 0, at most 2^31 - 1), before it rejects with
   * `ERR_IDLE_TIMEOUT` (Python's `socket.settimeout`); the reader stays usable. Default `undefined`:
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
  /** Reads waiting for bytes; called with an error when the wait timed out. */
  readonly #waiters = new Set<(error?: Error) => void>();
  #timeoutMs: number | undefined;
  /** One timer for all waits: each wait refreshes it, and when it fires it fails the waits pending then. */
  #timer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, options: SocketReaderOptions = {}) {
    this.#socket = socket;
    this.#highWaterMarkBytes = requireInteger(
      'highWaterMarkBytes',
      options.highWaterMarkBytes ?? defaultHighWaterMarkBytes,
      1,
    );
    this.timeoutMs = options.timeoutMs;
    if (socket.destroyed) {
      this.#onClose();
      return;
    }
    // Paused whatever state it came in, so that adding a 'data' listener reads nothing yet.
    socket.pause();
    socket
      .on('data', this.#onData)
      .on('end', this.#onEnd)
      .on('error', this.#onError)
      .on('close', this.#onClose);
  }

  /** See {@link SocketReaderOptions.timeoutMs}. Takes effect from the next wait. */
  get timeoutMs(): number | undefined {
    return this.#timeoutMs;
  }

  /** Set the read timeout, in ms; `undefined` for none. Throws `ERR_INVALID_OPTION` when out of range. */
  set timeoutMs(value: number | undefined) {
    this.#timeoutMs = requireTimeoutMs('timeoutMs', value);
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Up to `maxBytes` bytes (an integer >= 1): what is buffered, after waiting for at least one byte
   * if nothing is. An empty Buffer means EOF. Never returns more than `maxBytes`.
   */
  async read(maxBytes: number): Promise<Buffer> {
    requireInteger('maxBytes', maxBytes, 1);
    while (this.#bufferedLength === 0) {
      if (this.#isEnded) {
        if (this.#failure !== undefined) throw this.#failure;
        return empty;
      }
      await this.#waitForData();
    }
    return this.#take(maxBytes);
  }

  #waitForData(): Promise<void> {
    this.#resume();
    if (this.#timeoutMs !== undefined) {
      if (this.#timer === undefined) this.#timer = setTimeout(this.#onTimeout, this.#timeoutMs);
      else this.#timer.refresh();
    }
    return new Promise((resolve, reject) => {
      this.#waiters.add((error) => (error === undefined ? resolve() : reject(error)));
    });
  }

  #take(maxBytes: number): Buffer {
    const parts: Buffer[] = [];
    let length = 0;
    let wholeChunks = 0;
    for (const chunk of this.#chunks) {
      const room = maxBytes - length;
      if (room === 0) break;
      if (chunk.length > room) {
        parts.push(chunk.subarray(0, room));
        this.#chunks[wholeChunks] = chunk.subarray(room);
        length += room;
        break;
      }
      parts.push(chunk);
      length += chunk.length;
      wholeChunks += 1;
    }
    this.#chunks.splice(0, wholeChunks);
    this.#bufferedLength -= length;
    if (this.#bufferedLength <= this.#highWaterMarkBytes) this.#resume();
    const [first] = parts;
    return parts.length === 1 && first !== undefined ? first : Buffer.concat(parts, length);
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

  #wake(error?: Error): void {
    for (const wake of this.#waiters) wake(error);
    this.#waiters.clear();
  }

  #end(failure: Error | undefined): void {
    if (this.#isEnded) return;
    this.#isEnded = true;
    this.#failure = failure;
    this.#wake();
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    this.#bufferedLength += chunk.length;
    this.#wake();
    if (this.#bufferedLength > this.#highWaterMarkBytes) this.#pause();
  };

  readonly #onEnd = (): void => this.#end(undefined);

  readonly #onError = (error: Error): void => this.#end(readFailure(error));

  readonly #onClose = (): void => {
    const { errored, readableEnded } = this.#socket;
    this.#end(
      errored !== null
        ? readFailure(errored)
        : readableEnded
          ? undefined
          : new ConnectionClosedError('the connection was closed before EOF while reading'),
    );
    this.#socket
      .off('data', this.#onData)
      .off('end', this.#onEnd)
      .off('error', this.#onError)
      .off('close', this.#onClose);
    clearTimeout(this.#timer);
  };

  readonly #onTimeout = (): void => {
    if (this.#timeoutMs !== undefined) this.#wake(new IdleTimeoutError(this.#timeoutMs));
  };
}

/** What reads report after a socket error: nothing for a peer reset (EOF), else ERR_CONNECTION_CLOSED. */
function readFailure(error: Error): Error | undefined {
  if ((error as NodeJS.ErrnoException).code === 'ECONNRESET') return undefined;
  return new ConnectionClosedError(`the connection failed while reading: ${error.message}`, { cause: error });
}
