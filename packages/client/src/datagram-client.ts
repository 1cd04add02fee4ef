import { createSocket, type RemoteInfo, type Socket as UDPSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createRequire } from 'node:module';
import type { DgramSocket } from 'node-unix-socket';
import { ChangeNotifier } from './change-notifier.js';
import { ClientError } from './client-error.js';
import { hostPortLabel, unixPathLabel } from './peer-label.js';
import { printable } from './printable.js';
import { requireInteger } from './require-integer.js';
import { requireSocketPath } from './require-socket-path.js';
import { defaultTimeoutMs, resolveTimeoutMs, type TimeoutOptions } from './timeout-options.js';

/** Received datagrams kept until read; beyond this the oldest are dropped and counted. */
const maxQueuedDatagrams = 1024;

/**
 * Where a datagram comes from or goes: `[host, port]` over UDP, a socket path over Unix (a Linux
 * abstract name starts with `'\0'`). A received Unix datagram's address is `''` when its sender is
 * unbound or bound to an abstract name.
 */
export type DatagramAddress = readonly [host: string, port: number] | string;

/** Options of {@link DatagramClient.openUDP}. */
export interface OpenUDPOptions {
  /** IP version of the socket: `4` (`udp4`) or `6` (`udp6`). Default (`undefined`): 4. */
  family?: 4 | 6;
  /** Local address to bind. Default (`undefined`): `'127.0.0.1'` for family 4, `'::1'` for family 6. */
  host?: string;
  /** Local port to bind, an integer from 0 to 65_535. Default (`undefined`) and `0`: an ephemeral port. */
  port?: number;
}

/** Options of {@link DatagramClient.openUnix}. */
export interface OpenUnixOptions {
  /**
   * Path to bind, or a Linux abstract name starting with `'\0'`; the socket file is removed on close.
   * Default (`undefined`): a fresh path in a new directory under `os.tmpdir()`, removed on close.
   */
  path?: string;
}

/** Options of {@link DatagramClient.recvFrom}. `timeoutMs` bounds the wait (default 10 s). */
export interface RecvFromOptions extends TimeoutOptions {
  /**
   * Ends the wait with `ERR_ABORTED` (the signal's reason as `cause`), at once if already aborted.
   * Default (`undefined`): only `timeoutMs` ends the wait.
   */
  signal?: AbortSignal;
}

/** One received datagram, queued until read. */
interface ReceivedDatagram {
  readonly data: Buffer;
  readonly address: DatagramAddress;
}

/** The socket under a client, by kind. */
type Endpoint =
  | { readonly kind: 'udp'; readonly socket: UDPSocket }
  | {
      readonly kind: 'unix';
      readonly socket: DgramSocket;
      /** The bound path (`address()` reads `''` for an abstract name). */
      readonly path: string;
      /** The directory made for a default path, removed on close; `undefined` for a given path. */
      readonly temporaryDirectory: string | undefined;
    };

/**
 * node-unix-socket reports a failed system call by its `strerror` text only (its `code` is missing
 * or `'Unknown'`): the codes of the ones a client meets, to translate them like Node's own errors.
 */
const systemCodeByMessage = new Map([
  ['No such file or directory', 'ENOENT'],
  ['Connection refused', 'ECONNREFUSED'],
  ['Message too long', 'EMSGSIZE'],
  ['Address already in use', 'EADDRINUSE'],
  ['Permission denied', 'EACCES'],
  ['Resource temporarily unavailable', 'EAGAIN'],
  ['No buffer space available', 'ENOBUFS'],
]);

/** Gives a node-unix-socket error the `code` its message stands for, so `fromSystemError` can match it. */
function withSystemCode(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const code = systemCodeByMessage.get(error.message);
  return code === undefined ? error : Object.assign(error, { code });
}

/**
 * node-unix-socket's DgramSocket (Node has no Unix datagram sockets), loaded on the first
 * `openUnix`: it is an optional peer dependency, so this package needs only `node:` modules
 * otherwise. `ERR_SOCKET` naming the package when it is not installed or has no binary here.
 */
function loadDgramSocket(): typeof DgramSocket {
  try {
    const require = createRequire(import.meta.url);
    return (require('node-unix-socket') as { DgramSocket: typeof DgramSocket }).DgramSocket;
  } catch (error) {
    throw new ClientError(
      'ERR_SOCKET',
      `Unix datagram sockets need the node-unix-socket package (npm install node-unix-socket): ${
        error instanceof Error ? error.message.split('\n')[0] : String(error)
      }`,
      { cause: error },
    );
  }
}

/** `ERR_SOCKET` for a socket that could not be bound to `local`. */
function bindError(error: unknown, local: string): ClientError {
  const reason = (error instanceof Error && error.message) || String(error);
  return new ClientError('ERR_SOCKET', `Cannot bind ${local}: ${printable(reason)}`, { cause: error });
}

/** Shows an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it maps. */
function unmapIPv4(host: string): string {
  return /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host)?.[1] ?? host;
}

/**
 * A datagram socket, like Python's `socket(AF_INET, SOCK_DGRAM)` or `socket(AF_UNIX, SOCK_DGRAM)`:
 * `sendTo`, `recvFrom`, `close`. Open one with {@link DatagramClient.openUDP} or
 * {@link DatagramClient.openUnix}; it is bound at once, so replies reach it.
 *
 * Received datagrams wait in a queue of at most 1024 until `recvFrom` reads them; beyond that the
 * oldest are dropped and counted in {@link droppedDatagrams}. Only one `recvFrom` may wait at a time.
 * Every wait is bounded by `timeoutMs`. A Unix client receives at most 65_535 bytes of a datagram
 * (node-unix-socket's receive buffer): the rest of a longer one is lost.
 */
export class DatagramClient implements AsyncDisposable {
  readonly #endpoint: Endpoint;
  readonly #address: DatagramAddress;
  /** The local address, for messages. */
  readonly #label: string;
  readonly #queue: ReceivedDatagram[] = [];
  /** Notified on every socket event, to wake whoever waits. */
  readonly #changes = new ChangeNotifier();
  #receivedDatagrams = 0;
  #droppedDatagrams = 0;
  #failure: ClientError | undefined;
  /** `close()` was called. */
  #isClosed = false;
  #isReading = false;
  #closing: Promise<void> | undefined;

  private constructor(endpoint: Endpoint, address: DatagramAddress) {
    this.#endpoint = endpoint;
    this.#address = address;
    this.#label = typeof address === 'string' ? unixPathLabel(address) : hostPortLabel(...address);
    const onError = (error: unknown): void => {
      this.#failure ??= ClientError.fromSystemError(withSystemCode(error), this.#label);
      this.#changes.notify();
    };
    if (endpoint.kind === 'udp') {
      endpoint.socket.on('message', (data: Buffer, remote: RemoteInfo) =>
        this.#receive(data, [unmapIPv4(remote.address), remote.port]),
      );
      endpoint.socket.on('error', onError);
    } else {
      endpoint.socket.on('data', (data: Buffer, fromPath: string) => this.#receive(data, fromPath));
      // node-unix-socket closes the socket before emitting 'error'.
      endpoint.socket.on('error', onError);
    }
  }

  /**
   * Opens a UDP socket bound to `host` and `port` (default `127.0.0.1` or `::1`, port 0), like Python's
   * `s = socket(AF_INET, SOCK_DGRAM); s.bind((host, port))`. Rejects with `ERR_INVALID_ARGUMENT`,
   * `ERR_SOCKET` (the bind failed, as for a port in use) or `ERR_TIMEOUT` (after 10 s).
   */
  static async openUDP(options: OpenUDPOptions = {}): Promise<DatagramClient> {
    const { family = 4 } = options;
    if (family !== 4 && family !== 6) {
      throw new ClientError('ERR_INVALID_ARGUMENT', `family must be 4 or 6, got ${inspect(family)}`);
    }
    const host = options.host ?? (family === 4 ? '127.0.0.1' : '::1');
    if (typeof host !== 'string' || host.length === 0) {
      throw new ClientError('ERR_INVALID_ARGUMENT', `host must be a non-empty string, got ${inspect(host)}`);
    }
    const port = requireInteger('port', options.port ?? 0, 0, 65_535);
    const local = hostPortLabel(host, port);

    const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
    const timeout = AbortSignal.timeout(defaultTimeoutMs);
    try {
      const listening = once(socket, 'listening', { signal: timeout });
      socket.bind({ address: host, port });
      await listening;
    } catch (error) {
      socket.close();
      if (timeout.aborted) {
        throw new ClientError('ERR_TIMEOUT', `Binding ${local} timed out after ${defaultTimeoutMs} ms`);
      }
      throw bindError(error, local);
    }
    const bound = socket.address();
    return new DatagramClient({ kind: 'udp', socket }, [unmapIPv4(bound.address), bound.port]);
  }

  /**
   * Opens a Unix datagram socket bound to `path`, like Python's `s = socket(AF_UNIX, SOCK_DGRAM);
   * s.bind(path)`; without `path`, bound to a fresh one in a new temporary directory, as a Unix client
   * must be bound to get replies. Rejects with `ERR_INVALID_ARGUMENT` or `ERR_SOCKET` (the bind failed,
   * as for a path in use or in a missing directory).
   */
  static async openUnix(options: OpenUnixOptions = {}): Promise<DatagramClient> {
    const givenPath = options.path === undefined ? undefined : requireSocketPath('path', options.path);
    let temporaryDirectory: string | undefined;
    if (givenPath === undefined) {
      try {
        temporaryDirectory = await mkdtemp(join(tmpdir(), 'socketserver-'));
      } catch (error) {
        throw bindError(error, `a socket in a new directory of ${tmpdir()}`);
      }
    }
    const path = givenPath ?? join(temporaryDirectory ?? '', 'client.sock');
    let UnixDgramSocket: typeof DgramSocket;
    try {
      UnixDgramSocket = loadDgramSocket();
    } catch (error) {
      if (temporaryDirectory !== undefined) await rm(temporaryDirectory, { recursive: true, force: true });
      throw error;
    }
    // A DgramSocket keeps the process alive until closed, even one that failed to bind.
    const socket = new UnixDgramSocket();
    try {
      socket.bind(path);
    } catch (error) {
      socket.close();
      if (temporaryDirectory !== undefined) await rm(temporaryDirectory, { recursive: true, force: true });
      throw bindError(withSystemCode(error), unixPathLabel(path));
    }
    return new DatagramClient({ kind: 'unix', socket, path, temporaryDirectory }, path);
  }

  /** The bound local address: `[host, port]` over UDP, the socket path over Unix. */
  get address(): DatagramAddress {
    return this.#address;
  }

  /** Datagrams received since the client opened: read, queued, and dropped. */
  get receivedDatagrams(): number {
    return this.#receivedDatagrams;
  }

  /** Datagrams dropped, oldest first, because 1024 were already queued unread. */
  get droppedDatagrams(): number {
    return this.#droppedDatagrams;
  }

  /**
   * Python's `sendto(data, address)`: sends `data` (a string as UTF-8) as one datagram to `address`,
   * `[host, port]` over UDP or a socket path over Unix, and resolves once the kernel has taken it.
   * Rejects with `ERR_INVALID_ARGUMENT` (an address of the wrong shape, a bad port),
   * `ERR_CONNECTION_REFUSED` (no Unix socket at that path), `ERR_SOCKET` (such as `EMSGSIZE` for a datagram
   * too long), `ERR_TIMEOUT` (the datagram stays queued and may still be sent) or `ERR_CLIENT_CLOSED`.
   */
  async sendTo(data: Uint8Array | string, address: DatagramAddress, options?: TimeoutOptions): Promise<void> {
    const timeoutMs = resolveTimeoutMs(options?.timeoutMs);
    this.#assertUsable('sendTo()');
    const payload =
      typeof data === 'string'
        ? Buffer.from(data)
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let outcome: { error: unknown } | undefined;
    const onSent = (error: unknown): void => {
      outcome ??= { error };
      this.#changes.notify();
    };
    const peer = this.#startSend(payload, address, onSent);
    const { error } = await this.#changes.waitFor(`sendTo() to ${peer}`, timeoutMs, () => {
      if (outcome !== undefined) return outcome;
      this.#assertOpen('sendTo()');
      return undefined;
    });
    if (error) throw ClientError.fromSystemError(withSystemCode(error), peer);
  }

  /**
   * Python's `recvfrom()`: waits for the next datagram and resolves with its bytes and its sender's
   * address (`[host, port]` over UDP, with IPv4-mapped addresses shown as IPv4; a path over Unix, `''`
   * for an unbound sender). Rejects with `ERR_TIMEOUT`, `ERR_ABORTED`, `ERR_READ_IN_PROGRESS` (another
   * `recvFrom` waits), `ERR_CLIENT_CLOSED` (also when the client closes while it waits), or the socket's error.
   */
  async recvFrom(options?: RecvFromOptions): Promise<[data: Buffer, address: DatagramAddress]> {
    const timeoutMs = resolveTimeoutMs(options?.timeoutMs);
    this.#assertOpen('recvFrom()');
    if (this.#isReading) {
      throw new ClientError(
        'ERR_READ_IN_PROGRESS',
        `recvFrom() while another recvFrom() on ${this.#label} waits`,
      );
    }
    this.#isReading = true;
    try {
      const { data, address } = await this.#changes.waitFor(
        `recvFrom() on ${this.#label}`,
        timeoutMs,
        () => {
          this.#assertOpen('recvFrom()');
          const datagram = this.#queue.shift();
          if (datagram !== undefined) return datagram;
          if (this.#failure) throw this.#failure;
          return undefined;
        },
        options?.signal,
      );
      return [data, address];
    } finally {
      this.#isReading = false;
    }
  }

  /**
   * @internal For tests: resolves once {@link receivedDatagrams} reaches `count`, without reading.
   * Rejects with `ERR_TIMEOUT` or `ERR_CLIENT_CLOSED`.
   */
  async waitForReceived(count: number, options?: TimeoutOptions): Promise<void> {
    const timeoutMs = resolveTimeoutMs(options?.timeoutMs);
    this.#assertOpen('waitForReceived()');
    await this.#changes.waitFor(`waitForReceived(${count}) on ${this.#label}`, timeoutMs, () => {
      this.#assertOpen('waitForReceived()');
      return this.#receivedDatagrams >= count ? true : undefined;
    });
  }

  /**
   * Python's `close()`: releases the socket, drops unread datagrams and removes what `openUnix` made
   * (the socket file, and the temporary directory of a default path). A waiting `recvFrom` or `sendTo`
   * fails with `ERR_CLIENT_CLOSED`, as does any later call. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeSocket();
    return this.#closing;
  }

  /** Same as {@link close}, for `await using client = await DatagramClient.openUDP()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #closeSocket(): Promise<void> {
    this.#isClosed = true;
    this.#queue.length = 0;
    this.#changes.notify();
    const endpoint = this.#endpoint;
    if (endpoint.kind === 'udp') {
      await new Promise<void>((resolve) => endpoint.socket.close(resolve));
      return;
    }
    endpoint.socket.close();
    if (endpoint.temporaryDirectory !== undefined) {
      await rm(endpoint.temporaryDirectory, { recursive: true, force: true });
    } else if (!endpoint.path.startsWith('\0')) {
      await rm(endpoint.path, { force: true });
    }
  }

  /** Validates `address` for this kind of socket and starts sending; returns the peer's name for messages. */
  #startSend(payload: Buffer, address: DatagramAddress, onSent: (error: unknown) => void): string {
    const endpoint = this.#endpoint;
    if (endpoint.kind === 'udp') {
      if (!Array.isArray(address) || address.length !== 2 || typeof address[0] !== 'string' || !address[0]) {
        throw new ClientError(
          'ERR_INVALID_ARGUMENT',
          `A UDP client sends to a [host, port] address, got ${inspect(address)}`,
        );
      }
      const [host, port] = address as readonly [string, number];
      requireInteger('port', port, 1, 65_535);
      const peer = hostPortLabel(host, port);
      try {
        endpoint.socket.send(payload, port, host, onSent);
      } catch (error) {
        onSent(error);
      }
      return peer;
    }
    if (typeof address !== 'string') {
      throw new ClientError(
        'ERR_INVALID_ARGUMENT',
        `A Unix datagram client sends to a socket path, got ${inspect(address)}`,
      );
    }
    const path = requireSocketPath('address', address);
    try {
      endpoint.socket.sendTo(payload, 0, payload.length, path, onSent);
    } catch (error) {
      onSent(error);
    }
    return unixPathLabel(path);
  }

  #receive(data: Buffer, address: DatagramAddress): void {
    if (this.#isClosed) return;
    this.#receivedDatagrams += 1;
    if (this.#queue.length >= maxQueuedDatagrams) {
      this.#queue.shift();
      this.#droppedDatagrams += 1;
    }
    this.#queue.push({ data, address });
    this.#changes.notify();
  }

  /** Fails after `close()`, or after the socket failed. */
  #assertUsable(operation: string): void {
    this.#assertOpen(operation);
    if (this.#failure) throw this.#failure;
  }

  #assertOpen(operation: string): void {
    if (this.#isClosed) {
      throw new ClientError('ERR_CLIENT_CLOSED', `${operation} on ${this.#label} after close()`);
    }
  }
}
