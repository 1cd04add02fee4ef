import type { Socket } from 'node:net';
import { ConnectionClosedError } from '@socketserver/core';
import { bufferView } from './buffer-view.js';

/**
 * What `write` returns for every write the socket took at once: one settled promise, so a caller
 * that sees it knows without waiting (`SocketRequest.send`). Internal to the package.
 */
export const written: Promise<void> = Promise.resolve();

/** What a {@link SocketWriter} asks of the connection's reading side. */
export interface BufferedInput {
  /** Bytes received and not read by the handler yet. */
  readonly bufferedLength: number;
}

/** Options of {@link SocketWriter}. */
export interface SocketWriterOptions {
  /**
   * The reading side of the same connection. While it holds bytes the handler has not read
   * (pipelined requests), writes are gathered and sent together. Default: none, every write is
   * sent at once.
   */
  input?: BufferedInput | undefined;
}

/**
 * Gathered bytes past this many are sent at once, whatever the input holds: gathering never holds
 * more than a socket's own buffer (`writableHighWaterMark`, 16 KiB) before the socket decides on
 * backpressure.
 */
const maxGatheredBytes = 16 * 1024;
/** Gathered pieces up to this size in all are copied into one buffer; past it, corked writes. */
const maxCopiedBytes = 64 * 1024;

/**
 * Writes to a socket with backpressure, the handler's `wfile`. Unbuffered as Python's
 * StreamRequestHandler `wfile` (`wbufsize = 0`): a write is sent at once, never left waiting for a
 * flush. One exception makes pipelining cheap: while `input` still holds bytes the handler has not
 * read, more answers are coming, so the writer gathers them, and the write made once the input is
 * used up sends them all with one `socket.write` (Netty flushes on read-complete the same way).
 * Answers that lie next to each other in memory, as an echo's lines do in the chunk they came in,
 * are joined without a copy. A `process.nextTick` sends what is gathered in any case, so nothing
 * stays held once the handler waits for anything, and so does every path that hands the socket
 * out (`request.socket`) or ends the request (see {@link SocketWriter.flush}).
 *
 * Bytes are taken by reference, as `socket.write` takes them: do not change a buffer after writing it.
 */
export class SocketWriter {
  /** The socket written to. Write to it directly only after {@link SocketWriter.flush}. */
  readonly socket: Socket;
  /**
   * The reading side whose unread bytes make writes gather: see {@link SocketWriterOptions.input}.
   * Settable: a handler that reads through a buffered reader of its own (as `rfile`) points it there.
   */
  input: BufferedInput | undefined;
  /**
   * The gathered bytes: `#parts`, then the run `#run…`, a stretch of one ArrayBuffer made of
   * writes that lay end to end. `#runFirst` is the run's first write, sent as it is when nothing
   * joined it.
   */
  #parts: Uint8Array[] | undefined;
  #runFirst: Uint8Array | undefined;
  #runBuffer: ArrayBufferLike | undefined;
  #runStart = 0;
  #runEnd = 0;
  #gatheredLength = 0;
  #isFlushScheduled = false;

  constructor(socket: Socket, options: SocketWriterOptions = {}) {
    this.socket = socket;
    this.input = options.input;
  }

  /** Bytes written and not handed to the socket yet. */
  get gatheredLength(): number {
    return this.#gatheredLength;
  }

  /**
   * Write all of `data` (a string as UTF-8). Resolves as soon as the socket has taken it, or, when the
   * socket's buffer is full (`write()` returned `false`), once it has drained, so a client that stops
   * reading makes the writer wait instead of buffering without bound. Rejects with
   * `ERR_CONNECTION_CLOSED` when the connection is closed, or closes or fails before draining.
   */
  write(data: Uint8Array | string): Promise<void> {
    const { socket } = this;
    if (socket.destroyed || !socket.writable) {
      return Promise.reject(new ConnectionClosedError('cannot write: the connection is closed'));
    }
    if (data.length === 0) return written;
    if (this.input !== undefined && this.input.bufferedLength > 0) {
      return this.gather(data) ? written : drained(socket);
    }
    if (this.#gatheredLength > 0) {
      this.#add(typeof data === 'string' ? Buffer.from(data) : data);
      return this.#send() ? written : drained(socket);
    }
    return socket.write(data) ? written : drained(socket);
  }

  /**
   * Add `data` (a string as UTF-8) to the bytes sent by the next {@link SocketWriter.flush} or
   * sending write, and by a `process.nextTick` at the latest. Past 16 KiB gathered, it sends them
   * at once. Returns `false` when the socket's buffer is full: await {@link SocketWriter.drain}
   * before writing more. Once the connection is closed, what is gathered is dropped at the flush.
   */
  gather(data: Uint8Array | string): boolean {
    if (data.length === 0) return true;
    this.#add(typeof data === 'string' ? Buffer.from(data) : data);
    if (this.#gatheredLength >= maxGatheredBytes) return this.flush();
    if (!this.#isFlushScheduled) {
      this.#isFlushScheduled = true;
      process.nextTick(SocketWriter.#flushScheduled, this);
    }
    return !this.socket.writableNeedDrain;
  }

  /**
   * Hand what is gathered to the socket now, as one write. Call it before writing to the socket
   * directly; `request.socket` and the end of a request do. Returns `false` when the socket's
   * buffer is full (await {@link SocketWriter.drain}), as `socket.write` does.
   */
  flush(): boolean {
    const { socket } = this;
    if (socket.destroyed || !socket.writable) {
      this.#drop();
      return true;
    }
    if (this.#gatheredLength > 0) return this.#send();
    return !socket.writableNeedDrain;
  }

  /**
   * Resolves at once when the socket's buffer has room, else once it drains. Rejects with
   * `ERR_CONNECTION_CLOSED` when the connection closes or fails first.
   */
  drain(): Promise<void> {
    const { socket } = this;
    if (socket.destroyed) {
      return Promise.reject(new ConnectionClosedError('the connection closed before the data was written'));
    }
    return socket.writableNeedDrain ? drained(socket) : written;
  }

  #add(data: Uint8Array): void {
    const { buffer, byteOffset, byteLength } = data;
    this.#gatheredLength += byteLength;
    if (buffer === this.#runBuffer && byteOffset === this.#runEnd) {
      this.#runEnd += byteLength; // the next bytes of the same memory, as an echo's next line
      return;
    }
    if (this.#runFirst !== undefined) (this.#parts ??= []).push(this.#takeRun());
    this.#runFirst = data;
    this.#runBuffer = buffer;
    this.#runStart = byteOffset;
    this.#runEnd = byteOffset + byteLength;
  }

  /** Forget the gathered bytes: the connection is closed. */
  #drop(): void {
    this.#parts = undefined;
    this.#runFirst = undefined;
    this.#runBuffer = undefined;
    this.#gatheredLength = 0;
  }

  /** The current run as one view, and no run. */
  #takeRun(): Uint8Array {
    const first = this.#runFirst as Uint8Array;
    const length = this.#runEnd - this.#runStart;
    const run =
      length === first.byteLength
        ? first
        : bufferView(this.#runBuffer as ArrayBufferLike, this.#runStart, length);
    this.#runFirst = undefined;
    this.#runBuffer = undefined;
    return run;
  }

  /** Send the gathered bytes with one `socket.write` (corked writes when large); its result. */
  #send(): boolean {
    const { socket } = this;
    const run = this.#takeRun();
    const parts = this.#parts;
    const length = this.#gatheredLength;
    this.#parts = undefined;
    this.#gatheredLength = 0;
    if (parts === undefined) return socket.write(run);
    parts.push(run);
    if (length <= maxCopiedBytes) return socket.write(Buffer.concat(parts, length));
    socket.cork();
    let isAccepted = true;
    for (const part of parts) isAccepted = socket.write(part);
    socket.uncork();
    return isAccepted;
  }

  static #flushScheduled(writer: SocketWriter): void {
    writer.#isFlushScheduled = false;
    writer.flush();
  }
}

/** Settles on 'drain', or rejects on 'close' or 'error'; its listeners are removed either way. */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      socket.off('drain', onDrain).off('close', onClose).off('error', onError);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = (): void => settle();
    const onClose = (): void =>
      settle(new ConnectionClosedError('the connection closed before the data was written'));
    const onError = (error: Error): void =>
      settle(
        new ConnectionClosedError(`the connection failed while writing: ${error.message}`, { cause: error }),
      );
    socket.on('drain', onDrain).on('close', onClose).on('error', onError);
  });
}
