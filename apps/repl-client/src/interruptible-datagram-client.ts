import { inspect } from 'node:util';
import {
  DatagramClient,
  type DatagramAddress,
  type OpenUDPOptions,
  type OpenUnixOptions,
  type RecvFromOptions,
  type TimeoutOptions,
} from '@socketserver/client';
import type { PendingOperations } from './pending-operations.js';
import { hostPortLabel, socketPathLabel } from './socket-address.js';

/**
 * The REPL's datagram socket: a {@link DatagramClient} with the same methods, whose waiting
 * `recvFrom` ends with `ERR_ABORTED` when its {@link PendingOperations} are cancelled (Ctrl-C),
 * and the socket stays usable: a datagram that arrives later waits for the next `recvFrom`.
 */
export class InterruptibleDatagramClient implements AsyncDisposable {
  /** The underlying client. */
  readonly client: DatagramClient;
  readonly #operations: PendingOperations;
  #isClosed = false;

  constructor(client: DatagramClient, operations: PendingOperations) {
    this.client = client;
    this.#operations = operations;
  }

  /** The client's `DatagramClient.openUDP`: a UDP socket bound to `options.host` and `options.port`. */
  static async openUDP(
    operations: PendingOperations,
    options?: OpenUDPOptions,
  ): Promise<InterruptibleDatagramClient> {
    return new InterruptibleDatagramClient(await DatagramClient.openUDP(options), operations);
  }

  /** The client's `DatagramClient.openUnix`: a Unix datagram socket bound to `options.path`, or to a temporary one. */
  static async openUnix(
    operations: PendingOperations,
    options?: OpenUnixOptions,
  ): Promise<InterruptibleDatagramClient> {
    return new InterruptibleDatagramClient(await DatagramClient.openUnix(options), operations);
  }

  /** The bound local address: `[host, port]` over UDP, the socket path over Unix. */
  get address(): DatagramAddress {
    return this.client.address;
  }

  /** Whether this is a Unix datagram socket, rather than a UDP one. */
  get isUnixDomain(): boolean {
    return typeof this.address === 'string';
  }

  /** Datagrams received since the socket opened: read, queued, and dropped. */
  get receivedDatagrams(): number {
    return this.client.receivedDatagrams;
  }

  /** Datagrams dropped, oldest first, because 1024 were already queued unread. */
  get droppedDatagrams(): number {
    return this.client.droppedDatagrams;
  }

  /** Whether `close()` or `destroy()` was called. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Python's `sendto(data, address)`: one datagram to `[host, port]` over UDP, or to a socket path over Unix. */
  async sendTo(data: Uint8Array | string, address: DatagramAddress, options?: TimeoutOptions): Promise<void> {
    return this.client.sendTo(data, address, options);
  }

  /** Python's `recvfrom()`: `[data, address]` of the next datagram; Ctrl-C cancels the wait. */
  async recvFrom(options: RecvFromOptions = {}): Promise<[data: Buffer, address: DatagramAddress]> {
    const { signal: callerSignal, ...recvFromOptions } = options;
    return this.#operations.run((signal) =>
      this.client.recvFrom({
        ...recvFromOptions,
        signal: callerSignal === undefined ? signal : AbortSignal.any([callerSignal, signal]),
      }),
    );
  }

  /** Python's `close()`: releases the socket and removes what `openUnix` made. Idempotent. */
  close(): Promise<void> {
    this.#isClosed = true;
    return this.client.close();
  }

  /** Same as {@link close}, without waiting: a datagram socket has nothing to flush. */
  destroy(): void {
    // close() only fails to remove a temporary file, which is no concern of an abrupt close.
    this.close().catch(() => {});
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** What the socket is and where it is bound: "UDP socket at 127.0.0.1:50412", "Unix datagram socket at /tmp/x.sock". */
  get description(): string {
    const { address } = this;
    if (typeof address === 'string') return `Unix datagram socket at ${socketPathLabel(address)}`;
    return `UDP socket at ${hostPortLabel(...address)}`;
  }

  /** "UDP socket at 127.0.0.1:50412, open", or "Unix datagram socket at /tmp/x.sock, closed". */
  toString(): string {
    return `${this.description}, ${this.#isClosed ? 'closed' : 'open'}`;
  }
}

// How the REPL and console.log show a datagram socket: <UDP socket at 127.0.0.1:50412, open>.
// Defined here rather than as a `[inspect.custom]()` method, which isolatedDeclarations cannot declare.
Object.defineProperty(InterruptibleDatagramClient.prototype, inspect.custom, {
  value(this: InterruptibleDatagramClient): string {
    return `<${this.toString()}>`;
  },
});
