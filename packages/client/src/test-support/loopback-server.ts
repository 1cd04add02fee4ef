import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import { connect, type ConnectOptions } from '../connect.js';
import type { TestClient } from '../test-client.js';

/** Bound, in milliseconds, of every wait on the test's own side. */
export const waitMs = 5000;

/** Echoes every byte back and ends after the client's FIN. */
export function echo(socket: Socket): void {
  socket.pipe(socket);
}

/** A plain `node:net` server on an ephemeral loopback port. */
export interface LoopbackServer {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** The server's side of `client`'s connection, once accepted. */
  peerOf(client: TestClient): Promise<Socket>;
}

/** Listens on `host`, port 0; `onConnection` scripts each accepted socket. Closed when the test finishes. */
export async function listen(
  onConnection: (socket: Socket) => void = () => {},
  host = '127.0.0.1',
): Promise<LoopbackServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // Resets at teardown are expected; a test that cares adds its own listener.
    socket.on('error', () => {});
    onConnection(socket);
  });
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  server.listen(0, host);
  await once(server, 'listening', { signal: AbortSignal.timeout(waitMs) });
  const { port } = server.address() as AddressInfo;

  async function peerOf(client: TestClient): Promise<Socket> {
    const signal = AbortSignal.timeout(waitMs);
    for (;;) {
      const peer = [...sockets].find((socket) => socket.remotePort === client.localPort);
      if (peer) return peer;
      await once(server, 'connection', { signal });
    }
  }
  return { server, host, port, peerOf };
}

/** Connects to `listening` (the client is destroyed when the test finishes) and finds the server's side. */
export async function connectPair(
  listening: LoopbackServer,
  options?: ConnectOptions,
): Promise<{ client: TestClient; peer: Socket }> {
  const client = await connect(listening.host, listening.port, options);
  onTestFinished(() => client.destroy());
  return { client, peer: await listening.peerOf(client) };
}
