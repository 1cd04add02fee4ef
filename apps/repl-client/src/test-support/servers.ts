import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { ServerProcess } from '@socketserver/client/server-process';

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
