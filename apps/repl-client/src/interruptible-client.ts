import { inspect } from 'node:util';
import {
  ClientError,
  connect,
  connectUnix,
  type ConnectOptions,
  type ConnectUnixOptions,
  type ReadlineOptions,
  type TestClient,
  type TimeoutOptions,
} from '@socketserver/client';
import type { PendingOperations } from './pending-operations.js';
import { hostPortLabel, socketPathLabel } from './socket-address.js';

/** The client's wait when `timeoutMs` is not given: 10 s. */
const defaultTimeoutMs = 10_000;
/** The largest delay `setTimeout` honours. */
const maxTimeoutMs = 2 ** 31 - 1;

/** Options of {@link InterruptibleClient.connect}, besides the client's own {@link ConnectOptions}. */
export interface InterruptibleClientOptions {
  /**
   * Longest stretch, in milliseconds, of one underlying read, so a cancel takes effect within it.
   * Default (`undefined`): 100. An integer from 1 to 2^31 - 1.
   */
  cancelCheckIntervalMs?: number;
}

/**
 * The REPL's connection: a {@link TestClient} with the same methods, whose waiting connect and
 * reads end with `ERR_ABORTED` when their {@link PendingOperations} are cancelled (Ctrl-C), and
 * the connection stays usable.
 *
 * TestClient reads take no `AbortSignal`, so a read runs as consecutive underlying reads of at
 * most `cancelCheckIntervalMs`, within the caller's `timeoutMs`. Nothing is lost between them:
 * unread bytes stay buffered in the client, and a read that got data returns it even if a cancel
 * came meanwhile.
 */
export class InterruptibleClient implements AsyncDisposable {
  /** The underlying client. */
  readonly client: TestClient;
  /** "host:port" as given to `connect`, or the socket path given to `connectUnix` (`@name` for an abstract one). */
  readonly peer: string;
  readonly #operations: PendingOperations;
  readonly #cancelCheckIntervalMs: number;
  #isReading = false;
  #isClosed = false;

  constructor(
    client: TestClient,
    peer: string,
    operations: PendingOperations,
    options: InterruptibleClientOptions = {},
  ) {
    this.client = client;
    this.peer = peer;
    this.#operations = operations;
    this.#cancelCheckIntervalMs = requireTimeout(
      'cancelCheckIntervalMs',
      options.cancelCheckIntervalMs ?? 100,
    );
  }

  /**
   * The client's `connect`, cancelled with `ERR_ABORTED` by `operations.cancelAll()` as well as by
   * `options.signal`.
   */
  static async connect(
    host: string,
    port: number,
    operations: PendingOperations,
    options: ConnectOptions & InterruptibleClientOptions = {},
  ): Promise<InterruptibleClient> {
    const { cancelCheckIntervalMs, signal: callerSignal, ...connectOptions } = options;
    if (cancelCheckIntervalMs !== undefined) requireTimeout('cancelCheckIntervalMs', cancelCheckIntervalMs);
    const client = await operations.run((signal) =>
      connect(host, port, {
        ...connectOptions,
        signal: callerSignal === undefined ? signal : AbortSignal.any([callerSignal, signal]),
      }),
    );
    return new InterruptibleClient(
      client,
      hostPortLabel(host, port),
      operations,
      cancelCheckIntervalMs === undefined ? {} : { cancelCheckIntervalMs },
    );
  }

  /**
   * The client's `connectUnix` (a Unix-domain stream connection to `path`; `'\0name'` is a Linux
   * abstract name), cancelled with `ERR_ABORTED` by `operations.cancelAll()` as well as by `options.signal`.
   */
  static async connectUnix(
    path: string,
    operations: PendingOperations,
    options: ConnectUnixOptions & InterruptibleClientOptions = {},
  ): Promise<InterruptibleClient> {
    const { cancelCheckIntervalMs, signal: callerSignal, ...connectOptions } = options;
    if (cancelCheckIntervalMs !== undefined) requireTimeout('cancelCheckIntervalMs', cancelCheckIntervalMs);
    const client = await operations.run((signal) =>
      connectUnix(path, {
        ...connectOptions,
        signal: callerSignal === undefined ? signal : AbortSignal.any([callerSignal, signal]),
      }),
    );
    return new InterruptibleClient(
      client,
      socketPathLabel(path),
      operations,
      cancelCheckIntervalMs === undefined ? {} : { cancelCheckIntervalMs },
    );
  }

  /** Local IP address; `''` on a Unix-domain connection. */
  get localAddress(): string {
    return this.client.localAddress;
  }

  /** Local (ephemeral) port; `0` on a Unix-domain connection. */
  get localPort(): number {
    return this.client.localPort;
  }

  /** The server's IP address; `''` on a Unix-domain connection. */
  get remoteAddress(): string {
    return this.client.remoteAddress;
  }

  /** The server's port; `0` on a Unix-domain connection. */
  get remotePort(): number {
    return this.client.remotePort;
  }

  /** Whether this is a Unix-domain connection (`connectUnix`), which has no addresses or ports. */
  get isUnixDomain(): boolean {
    // A TCP connection always has a local port.
    return this.localPort === 0;
  }

  /** "127.0.0.1:50412", or "[::1]:50412": this end of the connection; `''` on a Unix-domain one. */
  get localEndpoint(): string {
    if (this.isUnixDomain) return '';
    return hostPortLabel(this.localAddress, this.localPort);
  }

  /** Whether `close()` or `destroy()` was called. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Python's `send`: resolves with the byte count once the kernel took it all (see `TestClient.send`). */
  async send(data: Uint8Array | string, options?: TimeoutOptions): Promise<number> {
    return this.client.send(data, options);
  }

  /** Python's `sendall`. */
  async sendAll(data: Uint8Array | string, options?: TimeoutOptions): Promise<void> {
    return this.client.sendAll(data, options);
  }

  /** Python's `recv(maxBytes)`: what has arrived, 1 to `maxBytes` bytes; an empty Buffer at EOF. */
  async recv(maxBytes: number, options?: TimeoutOptions): Promise<Buffer> {
    return this.#read('recv()', options?.timeoutMs, (timeoutMs) => this.client.recv(maxBytes, { timeoutMs }));
  }

  /** Exactly `byteCount` bytes, or `ERR_UNEXPECTED_EOF`. */
  async recvExactly(byteCount: number, options?: TimeoutOptions): Promise<Buffer> {
    return this.#read('recvExactly()', options?.timeoutMs, (timeoutMs) =>
      this.client.recvExactly(byteCount, { timeoutMs }),
    );
  }

  /** The next line with its `\n`, like Python's `rfile.readline()`. */
  async readline(options?: ReadlineOptions): Promise<Buffer> {
    const { timeoutMs, ...readlineOptions } = options ?? {};
    return this.#read('readline()', timeoutMs, (sliceMs) =>
      this.client.readline({ ...readlineOptions, timeoutMs: sliceMs }),
    );
  }

  /** Every byte until the server closes the connection. */
  async recvUntilClosed(options?: TimeoutOptions): Promise<Buffer> {
    return this.#read('recvUntilClosed()', options?.timeoutMs, (timeoutMs) =>
      this.client.recvUntilClosed({ timeoutMs }),
    );
  }

  /** Waits until the server closes the connection, leaving what arrives buffered. */
  async waitForClose(options?: TimeoutOptions): Promise<void> {
    await this.#read('waitForClose()', options?.timeoutMs, async (timeoutMs) => {
      await this.client.waitForClose({ timeoutMs });
      return Buffer.alloc(0);
    });
  }

  /** Python's `shutdown(SHUT_WR)`: sends FIN; reading goes on. */
  async shutdownWrite(options?: TimeoutOptions): Promise<void> {
    return this.client.shutdownWrite(options);
  }

  /** Python's `close()`: flushes, sends FIN, releases the socket. Idempotent. */
  close(): Promise<void> {
    this.#isClosed = true;
    return this.client.close();
  }

  /** Closes at once with a reset (RST). */
  destroy(): void {
    this.#isClosed = true;
    this.client.destroy();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** "localhost:20000 from 127.0.0.1:50412, open", or "/tmp/echo.sock, open" on a Unix-domain connection. */
  toString(): string {
    const from = this.isUnixDomain ? '' : ` from ${this.localEndpoint}`;
    return `${this.peer}${from}, ${this.#isClosed ? 'closed' : 'open'}`;
  }

  /** Runs one read as underlying reads of at most the cancel-check interval, until data, an error, the deadline or a cancel. */
  async #read(
    operation: string,
    timeoutMs: number | undefined,
    read: (sliceMs: number) => Promise<Buffer>,
  ): Promise<Buffer> {
    const totalMs = requireTimeout('timeoutMs', timeoutMs ?? defaultTimeoutMs);
    if (this.#isReading) {
      throw new ClientError('ERR_READ_IN_PROGRESS', `${operation} while another read of ${this.peer} waits`);
    }
    this.#isReading = true;
    try {
      return await this.#operations.run(async (signal) => {
        const deadline = performance.now() + totalMs;
        for (;;) {
          const remainingMs = Math.ceil(deadline - performance.now());
          try {
            return await read(Math.max(1, Math.min(this.#cancelCheckIntervalMs, remainingMs)));
          } catch (error) {
            if (!isSliceTimeout(error)) throw error;
          }
          if (signal.aborted) {
            throw new ClientError('ERR_ABORTED', `${operation} on ${this.peer} was aborted`, {
              cause: signal.reason,
            });
          }
          if (performance.now() >= deadline) {
            throw new ClientError(
              'ERR_TIMEOUT',
              `${operation} on ${this.peer} timed out after ${totalMs} ms`,
            );
          }
        }
      });
    } finally {
      this.#isReading = false;
    }
  }
}

// How the REPL and console.log show a connection: <connection to localhost:20000 from 127.0.0.1:50412, open>,
// <connection to /tmp/echo.sock, open>.
// Defined here rather than as a `[inspect.custom]()` method, which isolatedDeclarations cannot declare.
Object.defineProperty(InterruptibleClient.prototype, inspect.custom, {
  value(this: InterruptibleClient): string {
    return `<connection to ${this.toString()}>`;
  },
});

/**
 * An underlying read that ran out of its time. The client's own waits fail with a bare
 * `ERR_TIMEOUT`; a socket's ETIMEDOUT also maps to `ERR_TIMEOUT`, but keeps the system error as
 * `cause`, and is final.
 */
function isSliceTimeout(error: unknown): boolean {
  return (
    error instanceof Error && 'code' in error && error.code === 'ERR_TIMEOUT' && error.cause === undefined
  );
}

function requireTimeout(name: string, value: number): number {
  if (Number.isInteger(value) && value >= 1 && value <= maxTimeoutMs) return value;
  throw new ClientError(
    'ERR_INVALID_ARGUMENT',
    `${name} must be an integer from 1 to ${maxTimeoutMs}, got ${value}`,
  );
}
