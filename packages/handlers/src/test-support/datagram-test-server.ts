import { createSocket, type RemoteInfo, type Socket as UDPSocket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import {
  UDPServer,
  UnixDatagramServer,
  eventLoopStrategy,
  type ClientAddress,
  type DatagramRequest,
  type RequestHandlerClass,
} from '@socketserver/core';
import { waitMs } from './start-test-server.js';

/** What a datagram server reported to `handleError`, with a bounded wait for more. */
export class ErrorLog {
  /** Every error reported, in order. */
  readonly errors: unknown[] = [];
  readonly #reported = new EventEmitter();

  /** Add an error reported to `handleError`. */
  record(error: unknown): void {
    this.errors.push(error);
    this.#reported.emit('reported');
  }

  /** Resolves once `count` errors have been reported in all, with them. */
  async waitForErrors(count: number): Promise<unknown[]> {
    const signal = AbortSignal.timeout(waitMs);
    while (this.errors.length < count) await once(this.#reported, 'reported', { signal });
    return this.errors;
  }
}

/** A UDPServer that records what reaches `handleError` instead of printing it. */
export class RecordingUDPServer extends UDPServer {
  /** What reached `handleError`. */
  readonly log = new ErrorLog();

  override handleError(
    _request: DatagramRequest | undefined,
    _clientAddress: ClientAddress,
    error: unknown,
  ): void {
    this.log.record(error);
  }
}

/** A UnixDatagramServer that records what reaches `handleError` instead of printing it. */
export class RecordingUnixDatagramServer extends UnixDatagramServer {
  /** What reached `handleError`. */
  readonly log = new ErrorLog();

  override handleError(
    _request: DatagramRequest | undefined,
    _clientAddress: ClientAddress,
    error: unknown,
  ): void {
    this.log.record(error);
  }
}

/** Options of the test servers. */
export interface TestServerOptions {
  /** The server's `handlerOptions`. Default `{}`. */
  handlerOptions?: Readonly<Record<string, unknown>>;
}

/** Serves until the test finishes (then `serverClose()`, awaited with the serving loop). */
async function serveUntilTestFinished(
  server: RecordingUDPServer | RecordingUnixDatagramServer,
  cleanUp: () => void = () => {},
): Promise<void> {
  const serving = server.listening.then(() => server.serveForever());
  onTestFinished(async () => {
    try {
      await server.serverClose();
      await serving;
    } finally {
      cleanUp();
    }
  });
  await server.listening;
}

/** Serves `Handler` over UDP on `host` (default 127.0.0.1), an ephemeral port, with the event-loop strategy. */
export async function startUDPServer(
  Handler: RequestHandlerClass<DatagramRequest>,
  options: TestServerOptions & { host?: string } = {},
): Promise<RecordingUDPServer> {
  const server = new RecordingUDPServer([options.host ?? '127.0.0.1', 0], Handler, {
    strategy: eventLoopStrategy<DatagramRequest>(),
    handlerOptions: options.handlerOptions ?? {},
  });
  await serveUntilTestFinished(server);
  return server;
}

/** Serves `Handler` on a Unix datagram socket in a temporary directory, with the event-loop strategy. */
export async function startUnixDatagramServer(
  Handler: RequestHandlerClass<DatagramRequest>,
  options: TestServerOptions = {},
): Promise<RecordingUnixDatagramServer> {
  const directory = mkdtempSync(join(tmpdir(), 'socketserver-handlers-'));
  let server: RecordingUnixDatagramServer;
  try {
    server = new RecordingUnixDatagramServer(join(directory, 'server.sock'), Handler, {
      strategy: eventLoopStrategy<DatagramRequest>(),
      handlerOptions: options.handlerOptions ?? {},
    });
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  await serveUntilTestFinished(server, () => rmSync(directory, { recursive: true, force: true }));
  return server;
}

/** A promise that rejects if `executor` has not settled it within {@link waitMs}. */
function bounded<T>(
  what: string,
  executor: (resolve: (value: T) => void, reject: (error: Error) => void) => void,
): Promise<T> {
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  const timer = setTimeout(() => reject(new Error(`${what}: no outcome within ${waitMs} ms`)), waitMs);
  executor(resolve, reject);
  return promise.finally(() => clearTimeout(timer));
}

/** A datagram received by a test peer. */
export interface ReceivedDatagram {
  readonly data: Buffer;
  /** `host port` for UDP, the path for Unix. */
  readonly from: string;
}

/** What a test peer received, with a bounded wait for more. */
class Inbox {
  readonly datagrams: ReceivedDatagram[] = [];
  readonly #received = new EventEmitter();

  /** Add a datagram received. */
  push(datagram: ReceivedDatagram): void {
    this.datagrams.push(datagram);
    this.#received.emit('received');
  }

  /** Resolves once `count` datagrams have been received in all, with them. */
  async waitFor(count: number): Promise<ReceivedDatagram[]> {
    const signal = AbortSignal.timeout(waitMs);
    while (this.datagrams.length < count) await once(this.#received, 'received', { signal });
    return this.datagrams;
  }
}

/** A node:dgram socket on loopback that keeps every datagram it receives. Closed when the test finishes. */
export class UDPPeer {
  readonly socket: UDPSocket;
  readonly #inbox = new Inbox();

  private constructor(socket: UDPSocket) {
    this.socket = socket;
    socket.on('message', (data: Buffer, sender: RemoteInfo) =>
      this.#inbox.push({ data, from: `${sender.address} ${sender.port}` }),
    );
  }

  /** Binds a socket on `host` (default 127.0.0.1), an ephemeral port. */
  static async open(host = '127.0.0.1'): Promise<UDPPeer> {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    const listening = once(socket, 'listening', { signal: AbortSignal.timeout(waitMs) });
    socket.bind(0, host);
    await listening;
    return new UDPPeer(socket);
  }

  /** The port it is bound to. */
  get port(): number {
    return this.socket.address().port;
  }

  /** Everything received so far. */
  get received(): ReceivedDatagram[] {
    return this.#inbox.datagrams;
  }

  /** Send one datagram to `host` port `port`; resolves once the system has it. */
  sendTo(data: string | Buffer, port: number, host = '127.0.0.1'): Promise<void> {
    return bounded('send', (resolve, reject) =>
      this.socket.send(data, port, host, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Resolves once `count` datagrams have been received in all, with them. */
  waitFor(count: number): Promise<ReceivedDatagram[]> {
    return this.#inbox.waitFor(count);
  }
}

/** The part of node-unix-socket's DgramSocket the tests use. */
interface UnixDgramSocket {
  bind(path: string): void;
  sendTo(data: Buffer, offset: number, length: number, path: string, onSent?: (error?: Error) => void): void;
  on(event: 'data', listener: (data: Buffer, from: string) => void): this;
  close(): void;
}

/** node-unix-socket, a dependency of core (not of this package): loaded from where core resolves it. */
const { DgramSocket } = createRequire(import.meta.resolve('@socketserver/core'))('node-unix-socket') as {
  DgramSocket: new () => UnixDgramSocket;
};

/**
 * A node-unix-socket datagram socket, bound to `path` if given (else unnamed: it can send, not be
 * answered), that keeps every datagram it receives. Closed when the test finishes.
 */
export class UnixPeer {
  readonly socket: UnixDgramSocket;
  readonly #inbox = new Inbox();

  constructor(path?: string) {
    this.socket = new DgramSocket();
    onTestFinished(() => this.socket.close());
    if (path !== undefined) this.socket.bind(path);
    this.socket.on('data', (data, from) => this.#inbox.push({ data, from }));
  }

  /** Everything received so far. */
  get received(): ReceivedDatagram[] {
    return this.#inbox.datagrams;
  }

  /** Send one datagram to `path`; resolves once the system has it. */
  sendTo(data: string | Buffer, path: string): Promise<void> {
    const bytes = Buffer.from(data);
    return bounded('send', (resolve, reject) =>
      this.socket.sendTo(bytes, 0, bytes.length, path, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Resolves once `count` datagrams have been received in all, with them. */
  waitFor(count: number): Promise<ReceivedDatagram[]> {
    return this.#inbox.waitFor(count);
  }
}
