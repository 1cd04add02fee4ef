import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServerProcess } from '@socketserver/client/server-process';
import { DgramSocket } from 'node-unix-socket';

/** The repl-client command under test (runs dist/: build first). */
export const replClientBin: string = fileURLToPath(new URL('../../bin/repl-client.js', import.meta.url));
const echoServerBin = fileURLToPath(new URL('../../../echo/bin/echo-server.js', import.meta.url));
const runningLine = /^Echo server running on port (\d+)$/;

/** The recipe's echo server (apps/echo), on an ephemeral port. */
export interface EchoServer extends AsyncDisposable {
  readonly port: number;
}

/** Starts `echo-server --port 0 --quiet` and reads its port from `Echo server running on port N`. */
export async function startEchoServer(): Promise<EchoServer> {
  const server = ServerProcess.start(process.execPath, [echoServerBin, '--port', '0', '--quiet']);
  try {
    const line = await server.waitForLine(runningLine);
    return {
      port: Number(runningLine.exec(line)?.[1]),
      [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
    };
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

/** A raw TCP server in this process, on 127.0.0.1 and an ephemeral port. */
export interface RawServer extends AsyncDisposable {
  readonly port: number;
  /** Every connection accepted so far. */
  readonly sockets: readonly net.Socket[];
  /** The first connection, once accepted. */
  firstConnection(): Promise<net.Socket>;
}

/**
 * Starts a server that does only what `onConnection` does: nothing, by default (a silent server).
 * Disposing destroys its connections and closes it.
 */
export async function startRawServer(
  onConnection: (socket: net.Socket) => void = () => {},
): Promise<RawServer> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening', { signal: AbortSignal.timeout(5000) });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    sockets,
    async firstConnection() {
      if (sockets[0] !== undefined) return sockets[0];
      const [socket] = (await once(server, 'connection', { signal: AbortSignal.timeout(5000) })) as [
        net.Socket,
      ];
      return socket;
    },
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = await startRawServer();
  await server[Symbol.asyncDispose]();
  return server.port;
}

/** A directory under `os.tmpdir()` for test sockets; disposing removes it with what it holds. */
export interface TemporaryDirectory extends AsyncDisposable {
  readonly path: string;
}

/** Makes a fresh `repl-client-test-*` directory under `os.tmpdir()`. */
export async function temporaryDirectory(): Promise<TemporaryDirectory> {
  const path = await mkdtemp(join(tmpdir(), 'repl-client-test-'));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** A datagram server in this process: a UDP port, or a Unix datagram socket path. */
export interface DatagramServer extends AsyncDisposable {
  /** Every datagram received so far, in order. */
  readonly received: readonly Buffer[];
  /** Resolves once `count` datagrams have been received; fails after 5 s. */
  receivedCount(count: number): Promise<void>;
}

/** A UDP server on 127.0.0.1 (or `host`) and an ephemeral port. */
export interface UDPServer extends DatagramServer {
  readonly port: number;
}

/**
 * Starts a `node:dgram` socket on `host` (default 127.0.0.1), port 0, that echoes every datagram
 * to its sender, or with `isSilent` only records it. Disposing closes it.
 */
export async function startUDPServer(
  options: { host?: string; isSilent?: boolean } = {},
): Promise<UDPServer> {
  const { host = '127.0.0.1', isSilent = false } = options;
  const socket = createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  const received = new DatagramLog();
  socket.on('message', (data: Buffer, sender: RemoteInfo) => {
    received.add(data);
    if (!isSilent) socket.send(data, sender.port, sender.address);
  });
  const listening = once(socket, 'listening', { signal: AbortSignal.timeout(5000) });
  socket.bind(0, host);
  try {
    await listening;
  } catch (error) {
    socket.close();
    throw error;
  }
  return {
    port: socket.address().port,
    received: received.datagrams,
    receivedCount: (count) => received.waitFor(count),
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A Unix datagram server bound to a path in its own temporary directory. */
export interface UnixDatagramServer extends DatagramServer {
  readonly path: string;
}

/**
 * Starts a node-unix-socket `DgramSocket` bound to `server.sock` in a new temporary directory,
 * echoing every datagram to its (bound) sender. Disposing closes it and removes the directory.
 */
export async function startUnixDatagramServer(): Promise<UnixDatagramServer> {
  const directory = await temporaryDirectory();
  const path = join(directory.path, 'server.sock');
  const socket = new DgramSocket();
  const received = new DatagramLog();
  socket.on('error', () => {});
  socket.on('data', (data: Buffer, sender: string) => {
    received.add(data);
    if (sender !== '') socket.sendTo(data, 0, data.length, sender, () => {});
  });
  try {
    socket.bind(path);
  } catch (error) {
    socket.close();
    await directory[Symbol.asyncDispose]();
    throw error;
  }
  return {
    path,
    received: received.datagrams,
    receivedCount: (count) => received.waitFor(count),
    async [Symbol.asyncDispose]() {
      socket.close();
      await directory[Symbol.asyncDispose]();
    },
  };
}

/** A Unix stream server in this process. */
export interface UnixStreamServer extends AsyncDisposable {
  /** The socket path: `server.sock` in a temporary directory, or the abstract name given. */
  readonly path: string;
}

/**
 * Starts a `node:net` server on `path` (default: `server.sock` in a new temporary directory)
 * that echoes what each connection sends. Disposing destroys its connections, closes it and
 * removes the directory.
 */
export async function startUnixStreamEchoServer(path?: string): Promise<UnixStreamServer> {
  const directory = path === undefined ? await temporaryDirectory() : undefined;
  const socketPath = path ?? join(directory?.path ?? '', 'server.sock');
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on('data', (data) => socket.write(data));
  });
  try {
    server.listen(socketPath);
    await once(server, 'listening', { signal: AbortSignal.timeout(5000) });
  } catch (error) {
    server.close();
    await directory?.[Symbol.asyncDispose]();
    throw error;
  }
  return {
    path: socketPath,
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await directory?.[Symbol.asyncDispose]();
    },
  };
}

/** The datagrams a test server received, with a bounded wait for a count of them. */
class DatagramLog {
  readonly datagrams: Buffer[] = [];
  readonly #waiters = new Set<() => void>();

  add(data: Buffer): void {
    this.datagrams.push(data);
    for (const wake of this.#waiters) wake();
  }

  async waitFor(count: number): Promise<void> {
    const signal = AbortSignal.timeout(5000);
    while (this.datagrams.length < count) {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      const onAbort = (): void =>
        reject(new Error(`${this.datagrams.length} of ${count} datagrams received`));
      this.#waiters.add(resolve);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await promise;
      } finally {
        this.#waiters.delete(resolve);
        signal.removeEventListener('abort', onAbort);
      }
    }
  }
}
