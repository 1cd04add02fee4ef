import type { Socket } from 'node:net';
import { ConnectionClosedError } from '@socketserver/core';

const written: Promise<void> = Promise.resolve();

/** What a {@link SocketWriter} asks of the connection's reading side. */
export interface BufferedInput {
  /** Bytes received and not read by the handler yet. */
  readonly bufferedLength: number;
}

/** Options of {@link SocketWriter}. */
export interface SocketWriterOptions {
  /**
   * The reading side of the same connection. While it holds bytes the handler has not read
   * (pipelined requests), writes are held back and sent together. Default: none, every write is
   * sent at once.
   */
  input?: BufferedInput | undefined;
}

/**
 * Writes to a socket with backpressure, the handler's `wfile`. Unbuffered as Python's
 * StreamRequestHandler `wfile` (`wbufsize = 0`): a write is sent at once, never left waiting for a
 * flush. One exception makes pipelining cheap: while `input` still holds bytes the handler has not
 * read, more answers are coming, so the write corks the socket, and the write made once the input
 * is used up sends them all in one `writev` system call (Netty flushes on read-complete the same
 * way). A `process.nextTick` uncorks in any case, so nothing stays held once the handler waits for
 * anything. Only a handler that blocks its thread between reads of pipelined input delays the
 * answers already written until it reads the last of that input.
 *
 * Bytes are taken by reference, as `socket.write` takes them: do not change a buffer after writing it.
 */
export class SocketWriter {
  /** The socket written to. */
  readonly socket: Socket;
  /**
   * The reading side whose unread bytes make writes wait to be sent together: see
   * {@link SocketWriterOptions.input}. Settable: a handler that reads through a buffered reader of
   * its own (as `rfile`) points it there.
   */
  input: BufferedInput | undefined;
  #isCorked = false;

  constructor(socket: Socket, options: SocketWriterOptions = {}) {
    this.socket = socket;
    this.input = options.input;
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
      if (!this.#isCorked) {
        this.#isCorked = true;
        socket.cork();
        process.nextTick(SocketWriter.#uncork, this);
      }
      return socket.write(data) ? written : drained(socket);
    }
    const isAccepted = socket.write(data);
    SocketWriter.#uncork(this);
    return isAccepted ? written : drained(socket);
  }

  /** Send what was held back, if anything. */
  static #uncork(writer: SocketWriter): void {
    if (!writer.#isCorked) return;
    writer.#isCorked = false;
    writer.socket.uncork();
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
