import type { Socket } from 'node:net';
import { ConnectionClosedError } from '@socketserver/core';

const written: Promise<void> = Promise.resolve();

/**
 * Writes to a socket with backpressure, the handler's `wfile`. Unbuffered as far as the peer can
 * tell, as Python's StreamRequestHandler `wfile` (`wbufsize = 0`): nothing waits for a flush. The
 * writes of one tick of the event loop are coalesced: the first corks the socket and a
 * `process.nextTick` uncorks it, so a handler answering a burst of pipelined lines makes one
 * `writev` system call, not one per line (Node's own idiom for batching writes).
 *
 * Bytes are taken by reference, as `socket.write` takes them: do not change a buffer after writing it.
 */
export class SocketWriter {
  /** The socket written to. */
  readonly socket: Socket;
  #isCorked = false;

  constructor(socket: Socket) {
    this.socket = socket;
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
    if (!this.#isCorked) {
      this.#isCorked = true;
      socket.cork();
      process.nextTick(this.#uncork);
    }
    return socket.write(data) ? written : drained(socket);
  }

  readonly #uncork = (): void => {
    this.#isCorked = false;
    this.socket.uncork();
  };
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
