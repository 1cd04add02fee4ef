import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { ClientError } from './client-error.js';
import { connectUnix } from './connect-unix.js';
import { echo, waitMs } from './test-support/loopback-server.js';

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'socketserver-test-'));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** A `node:net` server on a socket path, and the sockets it accepted. */
interface PathServer {
  readonly server: Server;
  readonly peers: readonly Socket[];
}

/** Listens on `path`; `onConnection` scripts each accepted socket. Closed when the test finishes. */
async function listenOnPath(
  path: string,
  onConnection: (socket: Socket) => void = echo,
): Promise<PathServer> {
  const peers: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    peers.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  onTestFinished(async () => {
    for (const socket of peers) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  server.listen({ path });
  await once(server, 'listening', { signal: AbortSignal.timeout(waitMs) });
  return { server, peers };
}

/** The server's side of the `index`th accepted connection (from 0), once accepted. */
async function acceptedPeer({ server, peers }: PathServer, index: number): Promise<Socket> {
  const signal = AbortSignal.timeout(waitMs);
  for (;;) {
    const peer = peers[index];
    if (peer) return peer;
    await once(server, 'connection', { signal });
  }
}

/** A Linux abstract name no other test run uses. */
function abstractName(): string {
  return `\0socketserver-test-${randomUUID()}`;
}

describe('connectUnix', () => {
  it('round-trips through an echo server on a socket path, naming the path in messages', async () => {
    const path = join(directory, 'echo.sock');
    await listenOnPath(path);
    await using client = await connectUnix(path);
    expect(client).toMatchObject({ localAddress: '', localPort: 0, remoteAddress: '', remotePort: 0 });
    expect(await client.send('Hello\n')).toBe(6);
    expect((await client.recv(8192)).toString()).toBe('Hello\n');
    await expect(client.recv(1, { timeoutMs: 20 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      message: `recv() on ${path} timed out after 20 ms`,
    });
  });

  it('close() and destroy() (a Unix socket has no reset) both end the connection: the server sees EOF', async () => {
    const path = join(directory, 'quiet.sock');
    const server = await listenOnPath(path, (socket) => socket.resume());
    const first = await connectUnix(path);
    const second = await connectUnix(path);
    const firstPeer = await acceptedPeer(server, 0);
    const secondPeer = await acceptedPeer(server, 1);
    const firstEnded = once(firstPeer, 'end', { signal: AbortSignal.timeout(waitMs) });
    await first.close();
    await firstEnded;
    const secondEnded = once(secondPeer, 'end', { signal: AbortSignal.timeout(waitMs) });
    second.destroy();
    await second.close();
    await secondEnded;
    await expect(second.recv(1)).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
  });

  it.runIf(process.platform === 'linux')('connects to a Linux abstract name, shown as @name', async () => {
    const name = abstractName();
    await listenOnPath(name);
    await using client = await connectUnix(name);
    await client.sendAll('abstract\n');
    expect((await client.readline()).toString()).toBe('abstract\n');
    await expect(client.recv(1, { timeoutMs: 20 })).rejects.toMatchObject({
      message: `recv() on @${name.slice(1)} timed out after 20 ms`,
    });
  });

  it('a missing path: ERR_CONNECTION_REFUSED naming it, ENOENT as cause', async () => {
    const path = join(directory, 'missing.sock');
    const error = await connectUnix(path).catch((error: unknown) => error);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `Connection refused by ${path}: no such file`,
      cause: { code: 'ENOENT' },
    });
  });

  it('a file nobody listens on, or an unused abstract name: ERR_CONNECTION_REFUSED, ECONNREFUSED as cause', async () => {
    const path = join(directory, 'not-a-socket');
    writeFileSync(path, '');
    await expect(connectUnix(path)).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `Connection refused by ${path}`,
      cause: { code: 'ECONNREFUSED' },
    });
    if (process.platform !== 'linux') return;
    const name = abstractName();
    await expect(connectUnix(name)).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `Connection refused by @${name.slice(1)}`,
    });
  });

  it('an aborted signal fails with ERR_ABORTED, before or during the attempt, with the reason as cause', async () => {
    const path = join(directory, 'echo.sock');
    await listenOnPath(path);
    const reason = new Error('test over');
    await expect(connectUnix(path, { signal: AbortSignal.abort(reason) })).rejects.toMatchObject({
      code: 'ERR_ABORTED',
      message: `connectUnix() to ${path} was aborted`,
      cause: reason,
    });
    const controller = new AbortController();
    const attempt = connectUnix(path, { signal: controller.signal });
    controller.abort(reason);
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_ABORTED', cause: reason });
  });

  it('rejects an empty path or a bad timeout with ERR_INVALID_ARGUMENT, never throwing synchronously', async () => {
    const path = join(directory, 'echo.sock');
    for (const [target, timeoutMs] of [
      ['', 1000],
      [path, 0],
      [path, -5],
      [path, 1.5],
      [path, Number.POSITIVE_INFINITY],
    ] as const) {
      await expect(connectUnix(target, { timeoutMs })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
  });
});
