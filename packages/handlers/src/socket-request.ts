import type { Socket } from 'node:net';
import { SocketReader, type SocketReaderOptions } from './socket-reader.js';
import { SocketWriter, written, type BufferedInput } from './socket-writer.js';

/**
 * The connection as a handler's `request`, Python's socket: `recv` and `send`, with promises.
 *
 * The handler may write after the peer's EOF, as a Python handler can: the server accepts sockets
 * half-open (`allowHalfOpen`), in its own thread or in a worker, and half-closes them itself after
 * `finish()`.
 */
export class SocketRequest implements BufferedInput {
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  /** Made by the first `send`: a handler writing through `wfile` never needs it. */
  #writer: SocketWriter | undefined;

  constructor(socket: Socket, options?: SocketReaderOptions) {
    this.#socket = socket;
    this.#reader = new SocketReader(socket, options);
  }

  /**
   * The underlying socket, for what `recv` and `send` don't do (options, addresses, a direct write).
   * Getting it sends what `send` and `wfile` gathered first, so a direct write lands after them.
   * Read through `recv` (or `rfile`), not from the socket, or bytes are lost; to write to the socket
   * after more writes through `send` or `wfile`, get it again (or call `flush()`).
   */
  get socket(): Socket {
    this.#writer?.flush();
    return this.#socket;
  }

  /** Bytes received and not read by `recv` yet. */
  get bufferedLength(): number {
    return this.#reader.bufferedLength;
  }

  /**
   * How long one `recv` (and so one `rfile` read) may wait for bytes, in ms, before it rejects with
   * `ERR_IDLE_TIMEOUT`; Python's `settimeout`. `undefined` (the default) or `0` (read back as
   * `undefined`): wait as long as it takes, as Node's and Go's timeouts take 0 (not Python's
   * `settimeout(0)`, a non-blocking socket, which has no equivalent here). Writes are not bounded by
   * it; the server's `idleTimeoutMs` bounds a client that stops reading.
   */
  get timeoutMs(): number | undefined {
    return this.#reader.timeoutMs;
  }

  /** Set the read timeout, in ms; `undefined` or 0 for none. Takes effect from the next wait. */
  set timeoutMs(value: number | undefined) {
    this.#reader.timeoutMs = value;
  }

  /**
   * Up to `maxBytes` bytes (an integer >= 1), at least one, waiting for them if none have arrived; an
   * empty Buffer at EOF. Never more than `maxBytes`. Rejects with `ERR_CONNECTION_CLOSED` when the
   * connection failed or was closed before EOF (a peer reset reads as EOF).
   */
  recv(maxBytes: number): Promise<Buffer> {
    return this.#reader.read(maxBytes);
  }

  /**
   * Send all of `data` (a string as UTF-8) and resolve with the number of bytes sent, waiting for the
   * socket to drain when its buffer is full. Unlike Python's `send`, never sends part of it.
   */
  send(data: Uint8Array | string): Promise<number> {
    const sent = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    const writing = this.writer.write(data);
    // Not an async function, and no wait for a write the socket took at once (the writer's settled
    // `written`): a handler awaiting each send resumes one promise turn sooner, which is most of
    // what a small echo costs beyond its system calls.
    return writing === written ? Promise.resolve(sent) : writing.then(() => sent);
  }

  /** Send all of `data`, as {@link SocketRequest.send}; Python's `sendall`. */
  sendAll(data: Uint8Array | string): Promise<void> {
    return this.writer.write(data);
  }

  /**
   * The writer `send` and `sendAll` use, made on first use; its `input` is this request's reader
   * until a handler points it at its own (StreamRequestHandler's `wfile` is this writer, with
   * `rfile` as its input).
   */
  get writer(): SocketWriter {
    this.#writer ??= new SocketWriter(this.#socket, { input: this.#reader });
    return this.#writer;
  }

  /**
   * Hand what `send` and `wfile` gathered to the socket now (see {@link SocketWriter}); the server
   * does it when the request ends, `socket` when it is got.
   */
  flush(): void {
    this.#writer?.flush();
  }

  /** Set TCP_NODELAY (`true`: send small writes at once, without Nagle's algorithm). */
  setNoDelay(noDelay = true): void {
    this.#socket.setNoDelay(noDelay);
  }
}
