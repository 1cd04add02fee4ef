import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { DgramSocket } from 'node-unix-socket';
import { onTestFinished } from 'vitest';
import type { ClientAddress } from '../support/client-address.js';
import type { DatagramRequest } from '../servers/datagram-socket.js';
import type { HandlerServer, RequestHandler } from '../request/request-handler.js';
import type { RecordedError } from './recording-server.js';

/** A fresh temporary directory with a short path, removed when the test finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ss-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The records of `handleError`, for a server subclass that overrides it to call `record`. */
export class ErrorLog {
  readonly entries: RecordedError[] = [];
  readonly #events = new EventEmitter();

  record(clientAddress: ClientAddress, error: unknown): void {
    this.entries.push({ clientAddress, error });
    this.#events.emit('recorded');
  }

  /** Resolves once `count` errors have been recorded, or rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 5000): Promise<RecordedError[]> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (this.entries.length < count) await once(this.#events, 'recorded', { signal });
    return this.entries;
  }
}

/** Items that arrive on their own (datagrams, events), taken one by one with a bounded wait. */
export class Inbox<T> {
  readonly #items: T[] = [];
  readonly #events = new EventEmitter();

  push(item: T): void {
    this.#items.push(item);
    this.#events.emit('item');
  }

  /** Items received and not taken yet. */
  get size(): number {
    return this.#items.length;
  }

  /** The next item; rejects after `timeoutMs` with `what` in the message. */
  async next(timeoutMs = 5000, what = 'an item'): Promise<T> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (this.#items.length === 0) {
      try {
        await once(this.#events, 'item', { signal });
      } catch {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      }
    }
    return this.#items.shift() as T;
  }

  /** The next `count` items. */
  async take(count: number, timeoutMs = 5000): Promise<T[]> {
    const taken: T[] = [];
    for (let i = 0; i < count; i += 1) taken.push(await this.next(timeoutMs));
    return taken;
  }
}

/** A datagram handler built straight on `[data, socket]` (core's tests can't use @socketserver/handlers). */
export class DatagramHandler implements RequestHandler {
  readonly request: DatagramRequest;
  readonly clientAddress: ClientAddress;
  readonly server: HandlerServer;

  constructor(request: DatagramRequest, clientAddress: ClientAddress, server: HandlerServer) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  get data(): Buffer {
    return this.request[0];
  }

  setup(): void | Promise<void> {}
  handle(): void | Promise<void> {}
  finish(): void | Promise<void> {}
}

/** Sends every datagram back to its sender, through the server's socket. */
export class DatagramEchoHandler extends DatagramHandler {
  override async handle(): Promise<void> {
    await this.request[1].sendTo(this.data, this.clientAddress);
  }
}

/** A received UDP datagram with its sender. */
export interface UDPMessage {
  readonly data: Buffer;
  readonly from: dgram.RemoteInfo;
}

/** A UDP client socket bound to loopback, closed when the test finishes. */
export class UDPClient {
  readonly socket: dgram.Socket;
  readonly inbox: Inbox<UDPMessage> = new Inbox();

  private constructor(socket: dgram.Socket) {
    this.socket = socket;
    socket.on('message', (data, from) => this.inbox.push({ data, from }));
  }

  static async open(family: 'IPv4' | 'IPv6' = 'IPv4'): Promise<UDPClient> {
    const socket = dgram.createSocket(family === 'IPv4' ? 'udp4' : 'udp6');
    onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())).catch(() => {}));
    const bound = once(socket, 'listening', { signal: AbortSignal.timeout(5000) });
    socket.bind(0, family === 'IPv4' ? '127.0.0.1' : '::1');
    await bound;
    return new UDPClient(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: Uint8Array | string, port: number, host = '127.0.0.1'): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.socket.send(data, port, host, (error) => (error ? reject(error) : resolve()));
    return promise;
  }

  /** Send, then wait for the next datagram. */
  async request(data: Uint8Array | string, port: number, host = '127.0.0.1'): Promise<UDPMessage> {
    await this.send(data, port, host);
    return this.inbox.next(5000, `an answer to ${JSON.stringify(String(data)).slice(0, 60)}`);
  }
}

type DgramSocketClass = typeof DgramSocket;

/** node-unix-socket's DgramSocket, as core loads it. */
export const UnixDgramSocket: DgramSocketClass = (
  createRequire(import.meta.url)('node-unix-socket') as { DgramSocket: DgramSocketClass }
).DgramSocket;

/** A received Unix datagram with the sender's path. */
export interface UnixMessage {
  readonly data: Buffer;
  readonly from: string;
}

/** A Unix datagram client socket, bound to `path` when given; closed when the test finishes. */
export class UnixDgramClient {
  readonly socket: DgramSocket = new UnixDgramSocket();
  readonly inbox: Inbox<UnixMessage> = new Inbox();
  readonly path: string;

  constructor(path?: string) {
    onTestFinished(() => this.socket.close());
    this.socket.on('data', (data: Buffer, from: string) => this.inbox.push({ data, from }));
    this.path = path ?? '';
    if (path !== undefined) this.socket.bind(path);
  }

  send(data: Uint8Array | string, to: string): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.socket.sendTo(bytes, 0, bytes.length, to, (error) => (error ? reject(error) : resolve()));
    return promise;
  }

  async request(data: Uint8Array | string, to: string): Promise<UnixMessage> {
    await this.send(data, to);
    return this.inbox.next(5000, `an answer to ${JSON.stringify(String(data)).slice(0, 60)}`);
  }
}

/** A promise bounded in time: rejects after `timeoutMs` naming `what`. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A stream client that buffers what it reads, so nothing is lost between reads. */
export class StreamClient {
  readonly socket: net.Socket;
  #buffered: Buffer = Buffer.alloc(0);
  #ended = false;
  readonly #events = new EventEmitter();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      this.#events.emit('change');
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#events.emit('change');
    });
    socket.on('error', () => {
      this.#ended = true;
      this.#events.emit('change');
    });
  }

  /** Connect to a Unix socket path (or a Linux abstract name); destroyed when the test finishes. */
  static async connect(path: string): Promise<StreamClient> {
    return StreamClient.connectTo({ path });
  }

  /** Connect to a TCP port or a Unix path; destroyed when the test finishes. */
  static async connectTo(options: net.NetConnectOpts): Promise<StreamClient> {
    const socket = net.connect(options);
    onTestFinished(() => void socket.destroy());
    await once(socket, 'connect', { signal: AbortSignal.timeout(5000) });
    return new StreamClient(socket);
  }

  /** Exactly `length` bytes; fewer only if the peer ended first. */
  async read(length: number, timeoutMs = 5000): Promise<Buffer> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (this.#buffered.length < length && !this.#ended) await once(this.#events, 'change', { signal });
    const taken = this.#buffered.subarray(0, length);
    this.#buffered = this.#buffered.subarray(taken.length);
    return taken;
  }

  /** Everything until the peer's EOF. */
  async readToEnd(timeoutMs = 5000): Promise<Buffer> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (!this.#ended) await once(this.#events, 'change', { signal });
    const all = this.#buffered;
    this.#buffered = Buffer.alloc(0);
    return all;
  }

  /** Whether the peer has ended the connection (or it failed). */
  get ended(): boolean {
    return this.#ended;
  }

  write(data: Uint8Array | string): void {
    this.socket.write(data);
  }

  end(): void {
    this.socket.end();
  }
}

/** Connect to a Unix stream socket; destroyed when the test finishes. */
export async function connectUnix(path: string): Promise<net.Socket> {
  const socket = net.connect(path);
  onTestFinished(() => void socket.destroy());
  await once(socket, 'connect', { signal: AbortSignal.timeout(5000) });
  return socket;
}

/** The error a connect to a Unix stream socket fails with (ECONNREFUSED, ENOENT), bounded in time. */
export async function connectError(path: string): Promise<NodeJS.ErrnoException | undefined> {
  const socket = net.connect(path);
  try {
    await once(socket, 'connect', { signal: AbortSignal.timeout(5000) });
    return undefined;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  } finally {
    socket.destroy();
  }
}

/** Send `payload` on a new connection, half-close, and return everything read until the server's EOF. */
export async function roundTrip(path: string, payload: Uint8Array, timeoutMs = 10_000): Promise<Buffer> {
  const socket = await connectUnix(path);
  const received = buffer(socket);
  socket.end(payload);
  return within(received, `the echo of ${payload.length} bytes`, timeoutMs);
}

/**
 * Leave a stale stream socket file at `path`: a child process listens on it and is killed with
 * SIGKILL, so nothing removes the file.
 */
export async function leaveStaleStreamSocket(path: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "require('node:net').createServer().listen(process.argv[1], () => process.stdout.write('ready'))",
      path,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  onTestFinished(() => void child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  const [chunk] = (await once(child.stdout, 'data', { signal: AbortSignal.timeout(10_000) })) as [Buffer];
  if (chunk.toString() !== 'ready') throw new Error(`the child said ${chunk.toString()}`);
  child.kill('SIGKILL');
  await within(exited, 'the listening child to die');
}

/** Leave a stale datagram socket file at `path`: a node-unix-socket DgramSocket bound and closed. */
export function leaveStaleDatagramSocket(path: string): void {
  const socket = new UnixDgramSocket();
  socket.bind(path);
  socket.close();
}

/**
 * A socket path in a directory this process may not create files in, and the errors that says:
 * for a user, a directory of mode 0o500 (EACCES); for root, whom modes do not stop, sysfs, which
 * refuses to create sockets to everyone (EPERM, or EROFS where sysfs is mounted read-only, as in
 * most containers). All are ERR_PERMISSION_DENIED.
 */
export function unwritableSocketPath(directory: string): { path: string; reason: RegExp } {
  if (process.getuid?.() === 0) {
    return {
      path: `/sys/socketserver-${process.pid}.sock`,
      reason: /(?:permission denied \(EPERM\)|read-only file system \(EROFS\))$/,
    };
  }
  const locked = join(directory, 'locked');
  mkdirSync(locked, { mode: 0o500 });
  onTestFinished(() => chmodSync(locked, 0o700));
  return { path: join(locked, 's.sock'), reason: /permission denied \(EACCES\)$/ };
}

/** Whether a listening socket named `@name` (a Linux abstract name) exists, from /proc/net/unix. */
export function hasAbstractSocket(table: string, name: string): boolean {
  return table.split('\n').some((line) => line.trimEnd().endsWith(` @${name}`));
}
