import type { Socket } from 'node:net';
import { ByteQueue } from './byte-queue.js';
import { ChangeNotifier } from './change-notifier.js';
import { ClientError } from './client-error.js';
import { requireInteger } from './require-integer.js';
import { defaultTimeoutMs, resolveTimeoutMs, type TimeoutOptions } from './timeout-options.js';

/** Bytes buffered before the socket is paused, unless a waiting read needs more: 1 MiB. */
const highWaterMarkBytes = 1024 * 1024;
const newline = 0x0a;

/** Options of {@link TestClient.readline}. */
export interface ReadlineOptions extends TimeoutOptions {
  /**
   * Longest accepted line in bytes, not counting its `\n`. Default (`undefined`): 65_536. Must be an
   * integer of at least 1. A longer line fails with `ERR_LINE_TOO_LONG`, and its bytes stay buffered for `recv`.
   */
  maxLineLength?: number;
}

/**
 * One TCP (or Unix-domain) connection driven the way the recipe's interactive sessions drive a Python
 * socket: `send`, `recv`, `close`, plus the waits a test needs (`recvExactly`, `readline`, `waitForClose`).
 *
 * Reads pull from a buffer that holds at most 1 MiB (or what the waiting read asks for) before the
 * socket is paused. Only one read may wait at a time. Every wait is bounded by `timeoutMs`.
 */
export class TestClient implements AsyncDisposable {
  /** Local IP address, captured at connect; `''` on a Unix-domain connection. */
  readonly localAddress: string;
  /** Local (ephemeral) port, captured at connect; `0` on a Unix-domain connection. */
  readonly localPort: number;
  /** The server's IP address, captured at connect; `''` on a Unix-domain connection. */
  readonly remoteAddress: string;
  /** The server's port, captured at connect; `0` on a Unix-domain connection. */
  readonly remotePort: number;

  readonly #socket: Socket;
  /** "host:port" as given to `connect`, or the socket path given to `connectUnix`, for messages. */
  readonly #peer: string;
  /** A Unix-domain connection, which has no TCP reset. */
  readonly #isUnixDomain: boolean;
  readonly #received = new ByteQueue();
  readonly #socketClosed: Promise<void>;
  /** Notified on every socket event, to wake whoever waits. */
  readonly #changes = new ChangeNotifier();
  /** No more bytes will arrive: the peer sent FIN, or the socket closed. */
  #isEnded = false;
  #failure: ClientError | undefined;
  /** `close()` or `destroy()` was called. */
  #isClosed = false;
  #isWriteShutDown = false;
  #isReading = false;
  /** Bytes the waiting read needs buffered, which may exceed the high-water mark. */
  #wantedBytes = 0;
  #closing: Promise<void> | undefined;

  /**
   * @internal Takes ownership of a connected socket created with `allowHalfOpen: true`. Use `connect()`
   * or `connectUnix()`.
   */
  constructor(socket: Socket, peer: string, isUnixDomain: boolean) {
    this.#socket = socket;
    this.#peer = peer;
    this.#isUnixDomain = isUnixDomain;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    const closed = Promise.withResolvers<void>();
    this.#socketClosed = closed.promise;
    const markEnded = (): void => {
      this.#isEnded = true;
      this.#notify();
    };
    socket.on('data', (chunk: Buffer) => {
      this.#received.push(chunk);
      this.#updateFlow();
      this.#notify();
    });
    socket.on('end', markEnded);
    socket.on('finish', () => this.#notify());
    socket.on('error', (error) => {
      this.#failure ??= ClientError.fromSystemError(error, peer);
      this.#notify();
    });
    socket.on('close', () => {
      markEnded();
      closed.resolve();
    });
  }

  /**
   * Writes all of `data` (a string as UTF-8) and resolves with its length in bytes once the kernel has
   * taken it, so awaiting each send honours backpressure. Unlike Python's `send`, never writes partially.
   * On `ERR_TIMEOUT` the data stays queued and the connection stays usable.
   */
  async send(data: Uint8Array | string, options?: TimeoutOptions): Promise<number> {
    const timeoutMs = resolveTimeoutMs(options?.timeoutMs);
    this.#assertOpen('send()');
    if (this.#isWriteShutDown) {
      throw new ClientError('ERR_WRITE_AFTER_SHUTDOWN', `send() to ${this.#peer} after shutdownWrite()`);
    }
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    let outcome: { error: Error | null | undefined } | undefined;
    this.#socket.write(chunk, (error) => {
      outcome = { error };
      this.#notify();
    });
    const { error } = await this.#waitFor('send()', timeoutMs, () => outcome);
    if (error) throw this.#failure ?? ClientError.fromSystemError(error, this.#peer);
    return chunk.byteLength;
  }

  /** Python's `sendall`: {@link send} without the byte count. */
  async sendAll(data: Uint8Array | string, options?: TimeoutOptions): Promise<void> {
    await this.send(data, options);
  }

  /**
   * Python's `recv(maxBytes)`: waits for at least one byte and returns what has arrived, at most
   * `maxBytes` (an integer of at least 1); the rest stays buffered. Returns an empty Buffer at EOF.
   */
  async recv(maxBytes: number, options?: TimeoutOptions): Promise<Buffer> {
    requireInteger('maxBytes', maxBytes, 1);
    return this.#read(
      'recv()',
      options,
      0,
      () => (this.#received.length > 0 ? this.#received.take(maxBytes) : undefined),
      () => Buffer.alloc(0),
    );
  }

  /**
   * Returns exactly `byteCount` bytes, or fails with `ERR_UNEXPECTED_EOF` if the peer closes first
   * (the bytes received so far stay buffered). `byteCount` may exceed the 1 MiB high-water mark.
   */
  async recvExactly(byteCount: number, options?: TimeoutOptions): Promise<Buffer> {
    requireInteger('byteCount', byteCount, 0);
    return this.#read(
      'recvExactly()',
      options,
      byteCount,
      () => (this.#received.length >= byteCount ? this.#received.take(byteCount) : undefined),
      () => {
        throw new ClientError(
          'ERR_UNEXPECTED_EOF',
          `${this.#peer} closed the connection after ${this.#received.length} of ${byteCount} bytes`,
        );
      },
    );
  }

  /**
   * Returns the next line with its `\n`, like Python's `rfile.readline()`. At EOF it returns the final
   * unterminated line, then empty Buffers. Scans each byte once and holds at most `maxLineLength + 1`.
   */
  async readline(options?: ReadlineOptions): Promise<Buffer> {
    const maxLineLength = requireInteger('maxLineLength', options?.maxLineLength ?? 65_536, 1);
    const windowBytes = maxLineLength + 1;
    let scannedBytes = 0;
    return this.#read(
      'readline()',
      options,
      windowBytes,
      () => {
        const newlineIndex = this.#received.indexOf(newline, scannedBytes, windowBytes);
        if (newlineIndex !== -1) return this.#received.take(newlineIndex + 1);
        scannedBytes = Math.min(this.#received.length, windowBytes);
        if (scannedBytes === windowBytes) {
          throw new ClientError(
            'ERR_LINE_TOO_LONG',
            `Line from ${this.#peer} is longer than ${maxLineLength} bytes`,
          );
        }
        return undefined;
      },
      () => this.#received.take(this.#received.length),
    );
  }

  /** Returns every byte until the peer closes the connection. Holds the whole reply in memory. */
  async recvUntilClosed(options?: TimeoutOptions): Promise<Buffer> {
    return this.#read(
      'recvUntilClosed()',
      options,
      Number.POSITIVE_INFINITY,
      () => undefined,
      () => this.#received.take(this.#received.length),
    );
  }

  /**
   * Waits until the server closes the connection (EOF or reset), without consuming data: what arrives
   * first stays buffered for later reads. Once 1 MiB is buffered unread, EOF cannot be seen: use
   * {@link recvUntilClosed} for talkative servers.
   */
  async waitForClose(options?: TimeoutOptions): Promise<void> {
    try {
      await this.#read(
        'waitForClose()',
        options,
        0,
        () => undefined,
        () => Buffer.alloc(0),
      );
    } catch (error) {
      if (error !== this.#failure) throw error;
    }
  }

  /** Python's `shutdown(SHUT_WR)`: flushes queued sends and sends FIN; reading goes on. */
  async shutdownWrite(options?: TimeoutOptions): Promise<void> {
    const timeoutMs = resolveTimeoutMs(options?.timeoutMs);
    this.#assertOpen('shutdownWrite()');
    if (!this.#isWriteShutDown) {
      this.#isWriteShutDown = true;
      this.#socket.end();
    }
    await this.#waitFor('shutdownWrite()', timeoutMs, () => {
      if (this.#socket.writableFinished) return true;
      if (this.#socket.destroyed) throw this.#failure ?? this.#closedError('shutdownWrite()');
      return undefined;
    });
  }

  /**
   * Python's `close()`: flushes queued sends, sends FIN and releases the socket. A waiting read fails
   * with `ERR_CLIENT_CLOSED`, as does any later call. Idempotent: every call returns the same promise,
   * which resolves once the socket is closed. Sends still queued after 10 s are dropped (the socket is destroyed).
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeGracefully();
    return this.#closing;
  }

  /**
   * Closes at once with a TCP reset (RST), dropping queued sends. A Unix-domain connection has no reset:
   * it is closed at once, dropping queued sends. `close()` still resolves after it.
   */
  destroy(): void {
    this.#markClosed();
    if (this.#isUnixDomain) this.#socket.destroy();
    else this.#socket.resetAndDestroy();
  }

  /** Same as {@link close}, for `await using client = await connect(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #closeGracefully(): Promise<void> {
    this.#markClosed();
    this.#socket.destroySoon();
    const timer = setTimeout(() => this.#socket.destroy(), defaultTimeoutMs);
    try {
      await this.#socketClosed;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs one read: `tryRead` after every event, `readAtEof` once no more bytes can come. */
  async #read(
    operation: string,
    options: TimeoutOptions | undefined,
    wantedBytes: number,
    tryRead: () => Buffer | undefined,
    readAtEof: () => Buffer,
  ): Promise<Buffer> {
    const timeoutMs = resolveTimeoutMs(options?.timeoutMs);
    this.#assertOpen(operation);
    if (this.#isReading) {
      throw new ClientError('ERR_READ_IN_PROGRESS', `${operation} while another read of ${this.#peer} waits`);
    }
    this.#isReading = true;
    this.#wantedBytes = wantedBytes;
    this.#updateFlow();
    try {
      return await this.#waitFor(operation, timeoutMs, () => {
        this.#assertOpen(operation);
        const result = tryRead();
        if (result !== undefined) return result;
        if (this.#failure) throw this.#failure;
        return this.#isEnded ? readAtEof() : undefined;
      });
    } finally {
      this.#isReading = false;
      this.#wantedBytes = 0;
      this.#updateFlow();
    }
  }

  /** Re-runs `poll` after every socket event until it returns a value or throws; `ERR_TIMEOUT` after `timeoutMs`. */
  async #waitFor<T>(operation: string, timeoutMs: number, poll: () => T | undefined): Promise<T> {
    return this.#changes.waitFor(`${operation} on ${this.#peer}`, timeoutMs, poll);
  }

  #notify(): void {
    this.#changes.notify();
  }

  /** Pauses the socket while the buffer holds what the waiting read needs, or 1 MiB; resumes below that. */
  #updateFlow(): void {
    if (this.#received.length >= Math.max(highWaterMarkBytes, this.#wantedBytes)) this.#socket.pause();
    else this.#socket.resume();
  }

  #markClosed(): void {
    this.#isClosed = true;
    this.#notify();
  }

  #assertOpen(operation: string): void {
    if (this.#isClosed) throw this.#closedError(operation);
  }

  #closedError(operation: string): ClientError {
    return new ClientError('ERR_CLIENT_CLOSED', `${operation} on ${this.#peer} after close()`);
  }
}
