import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import {
  UDPServer,
  UnixDatagramServer,
  type ClientAddress,
  type DatagramRequest,
  type ServerAddress,
} from '@socketserver/core';
import type { WorkerPool, WorkerPoolEvents } from '@socketserver/concurrency';
import { DatagramCommandHandler } from './datagram-handlers.js';
import { waitMs } from './recording-server.js';

/** What reached a server's `handleError`. */
export interface RecordedRequestError<Request> {
  readonly request: Request | undefined;
  readonly clientAddress: ClientAddress;
  readonly error: unknown;
}

/**
 * What a server saw: `handleError` and `handleServerError` calls (instead of printing them), and
 * the workers its strategy started and saw exit.
 */
export class Recorder<Request = DatagramRequest> {
  readonly errors: RecordedRequestError<Request>[] = [];
  readonly serverErrors: unknown[] = [];
  readonly startedWorkerIds: number[] = [];
  readonly exitedWorkerIds: number[] = [];
  readonly #changes = new EventEmitter();

  constructor(strategy: EventEmitter<WorkerPoolEvents>) {
    strategy.on('workerStart', (id) => this.#record(this.startedWorkerIds, id));
    strategy.on('workerExit', (id) => this.#record(this.exitedWorkerIds, id));
  }

  error(request: Request | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.#record(this.errors, { request, clientAddress, error });
  }

  serverError(error: unknown): void {
    this.#record(this.serverErrors, error);
  }

  /** Forget the errors seen so far (a server shared by several tests). */
  clearErrors(): void {
    this.errors.length = 0;
    this.serverErrors.length = 0;
  }

  /** Resolves once `isDone()` holds, checked after every change recorded; rejects after `waitMs`. */
  async waitUntil(isDone: () => boolean): Promise<void> {
    const signal = AbortSignal.timeout(waitMs);
    while (!isDone()) await once(this.#changes, 'change', { signal });
  }

  #record<T>(list: T[], item: T): void {
    list.push(item);
    this.#changes.emit('change');
  }
}

/** A UDPServer on a worker strategy, serving {@link DatagramCommandHandler}, that records its errors. */
export class RecordingUDPServer extends UDPServer {
  declare readonly strategy: WorkerPool<DatagramRequest>;
  readonly recorder: Recorder;

  constructor(strategy: WorkerPool<DatagramRequest>, address: ServerAddress = ['127.0.0.1', 0]) {
    super(address, DatagramCommandHandler, { strategy });
    this.recorder = new Recorder(strategy);
  }

  override handleError(
    request: DatagramRequest | undefined,
    clientAddress: ClientAddress,
    error: unknown,
  ): void {
    this.recorder.error(request, clientAddress, error);
  }

  override handleServerError(error: unknown): void {
    this.recorder.serverError(error);
  }
}

/** A UnixDatagramServer on a worker strategy, serving {@link DatagramCommandHandler}, that records its errors. */
export class RecordingUnixDatagramServer extends UnixDatagramServer {
  declare readonly strategy: WorkerPool<DatagramRequest>;
  readonly recorder: Recorder;

  constructor(strategy: WorkerPool<DatagramRequest>, path: string) {
    super(path, DatagramCommandHandler, { strategy });
    this.recorder = new Recorder(strategy);
  }

  override handleError(
    request: DatagramRequest | undefined,
    clientAddress: ClientAddress,
    error: unknown,
  ): void {
    this.recorder.error(request, clientAddress, error);
  }

  override handleServerError(error: unknown): void {
    this.recorder.serverError(error);
  }
}

/** Serve `server` until it is closed; the returned `serveForever()` never rejects unheard. */
export function serve(server: { serveForever(): Promise<void> }): Promise<void> {
  const serving = server.serveForever();
  serving.catch(() => {});
  return serving;
}

/** A fresh temporary directory with a short path (Unix socket paths are short), removed by `remove()`. */
export function makeTempDir(): { readonly path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'ssc-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A fresh temporary directory removed when the test finishes. */
export function tempDir(): string {
  const dir = makeTempDir();
  onTestFinished(() => dir.remove());
  return dir.path;
}

/** Datagrams that arrive on their own, taken one by one with a bounded wait. */
export class Inbox<T> {
  readonly #items: T[] = [];
  readonly #events = new EventEmitter();

  push(item: T): void {
    this.#items.push(item);
    this.#events.emit('item');
  }

  /** The next item; rejects after `waitMs` naming `what`. */
  async next(what: string): Promise<T> {
    const signal = AbortSignal.timeout(waitMs);
    while (this.#items.length === 0) {
      try {
        await once(this.#events, 'item', { signal });
      } catch {
        throw new Error(`timed out after ${waitMs} ms waiting for ${what}`);
      }
    }
    return this.#items.shift() as T;
  }
}

/** A UDP datagram received, with its sender. */
export interface UDPReply {
  readonly data: Buffer;
  readonly from: dgram.RemoteInfo;
}

/** A UDP client bound to loopback, closed when the test finishes. */
export class UDPClient {
  readonly socket: dgram.Socket;
  readonly inbox: Inbox<UDPReply> = new Inbox();
  readonly host: string;

  private constructor(socket: dgram.Socket, host: string) {
    this.socket = socket;
    this.host = host;
    socket.on('message', (data, from) => this.inbox.push({ data, from }));
  }

  static async open(host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<UDPClient> {
    const socket = dgram.createSocket(host === '::1' ? 'udp6' : 'udp4');
    onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())).catch(() => {}));
    const bound = once(socket, 'listening', { signal: AbortSignal.timeout(waitMs) });
    socket.bind(0, host);
    await bound;
    return new UDPClient(socket, host);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: string, port: number): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.socket.send(data, port, this.host, (error) => (error ? reject(error) : resolve()));
    return promise;
  }

  /** Send, then wait for the next datagram. */
  async request(data: string, port: number): Promise<UDPReply> {
    await this.send(data, port);
    return this.inbox.next(`an answer to ${JSON.stringify(data)}`);
  }
}

/** node-unix-socket's DgramSocket, as much of it as these tests use. */
interface DgramSocket {
  bind(path: string): void;
  sendTo(buf: Buffer, offset: number, length: number, path: string, callback?: (error?: Error) => void): void;
  on(event: 'data', listener: (data: Buffer, from: string) => void): this;
  close(): void;
}

/** node-unix-socket, a dependency of core (not of this package): loaded from where core is. */
const DgramSocket = (
  createRequire(createRequire(import.meta.url).resolve('@socketserver/core'))('node-unix-socket') as {
    DgramSocket: new () => DgramSocket;
  }
).DgramSocket;

/** A Unix datagram received, with its sender's path. */
export interface UnixReply {
  readonly data: Buffer;
  readonly from: string;
}

/** A Unix datagram client, bound to `path` when given, closed when the test finishes. */
export class UnixDgramClient {
  readonly socket: DgramSocket = new DgramSocket();
  readonly inbox: Inbox<UnixReply> = new Inbox();

  constructor(path?: string) {
    // Always closed: an open one keeps the process alive.
    onTestFinished(() => this.socket.close());
    this.socket.on('data', (data, from) => this.inbox.push({ data, from }));
    if (path !== undefined) this.socket.bind(path);
  }

  send(data: string, to: string): Promise<void> {
    const bytes = Buffer.from(data);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.socket.sendTo(bytes, 0, bytes.length, to, (error) => (error ? reject(error) : resolve()));
    return promise;
  }

  async request(data: string, to: string): Promise<UnixReply> {
    await this.send(data, to);
    return this.inbox.next(`an answer to ${JSON.stringify(data)}`);
  }
}
