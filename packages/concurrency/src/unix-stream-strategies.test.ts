import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { UnixStreamServer, type ClientAddress, type RequestHandlerClass } from '@socketserver/core';
import {
  forking,
  ForkingUnixStreamServer,
  pool,
  threading,
  type WorkerPool,
} from '@socketserver/concurrency';
import { CommandEchoHandler } from './test-support/command-echo-handler.js';
import { Recorder, serve, tempDir } from './test-support/datagram-servers.js';
import { isProcessAlive, waitMs } from './test-support/recording-server.js';
import { randomLines } from './test-support/test-clients.js';

/** A UnixStreamServer on a worker strategy that records what reaches handleError and the workers started. */
class RecordingUnixStreamServer extends UnixStreamServer {
  declare readonly strategy: WorkerPool;
  readonly recorder: Recorder<net.Socket>;

  constructor(path: string, strategy: WorkerPool, Handler: RequestHandlerClass = CommandEchoHandler) {
    super(path, Handler, { strategy });
    this.recorder = new Recorder(strategy);
  }

  override handleError(request: net.Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.recorder.error(request, clientAddress, error);
  }

  override handleServerError(error: unknown): void {
    this.recorder.serverError(error);
  }
}

/** Connect to `path`, send `data`, half-close, and return all that comes back until the server closes. */
async function exchange(path: string, data: Buffer | string): Promise<Buffer> {
  const socket = net.connect(path);
  onTestFinished(() => void socket.destroy());
  const signal = AbortSignal.timeout(waitMs);
  await once(socket, 'connect', { signal });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.end(data);
  await once(socket, 'close', { signal });
  return Buffer.concat(chunks);
}

describe.each([
  { label: 'forking()', create: () => forking() },
  { label: "pool({ kind: 'process' })", create: () => pool({ workers: 2, kind: 'process' }) },
])('UnixStreamServer on $label', ({ create }) => {
  it('hands each connection to a child process, which echoes 1 MiB byte-exact and sees the Unix peer', async () => {
    const path = join(tempDir(), 'server.sock');
    const server = new RecordingUnixStreamServer(path, create());
    const serving = serve(server);
    try {
      const data = randomLines(1024 * 1024);
      expect((await exchange(path, data)).equals(data)).toBe(true);

      const [who, address] = (await exchange(path, '!whoami\n!address\n')).toString().trimEnd().split('\n');
      const pid = Number(who?.split(' ')[0]);
      expect(pid).not.toBe(process.pid);
      expect(server.recorder.startedWorkerIds).toContain(pid);
      expect(JSON.parse(address ?? '')).toEqual({ family: 'Unix', path: '' });

      // A failure in the child reaches handleError with the Unix client address.
      expect((await exchange(path, '!throw\n')).length).toBe(0);
      await server.recorder.waitUntil(() => server.recorder.errors.length >= 1);
      expect(server.recorder.errors).toEqual([
        {
          request: expect.any(net.Socket) as unknown,
          clientAddress: { family: 'Unix', path: '' },
          error: expect.objectContaining({ name: 'RangeError' }) as unknown,
        },
      ]);
      expect(server.recorder.serverErrors).toEqual([]);
    } finally {
      await server.serverClose();
      await serving;
    }
    expect(server.strategy.workerCount).toBe(0);
    expect(server.recorder.startedWorkerIds.filter(isProcessAlive)).toEqual([]);
  });
});

describe.each([
  { label: 'threading()', create: () => threading() },
  { label: "pool({ kind: 'thread' })", create: () => pool({ workers: 2 }) },
])('UnixStreamServer on $label', ({ create }) => {
  it('rejects serveForever with ERR_UNSUPPORTED_OPTION, starting no thread: Node moves only TCP sockets to threads', async () => {
    const path = join(tempDir(), 'server.sock');
    const server = new RecordingUnixStreamServer(path, create());
    try {
      await expect(server.serveForever()).rejects.toMatchObject({
        code: 'ERR_UNSUPPORTED_OPTION',
        message: expect.stringMatching(/only TCP sockets to worker threads.*forking\(\)/) as unknown,
      });
      expect(server.recorder.startedWorkerIds).toEqual([]);
    } finally {
      await server.serverClose();
    }
    expect(server.strategy.workerCount).toBe(0);
  });
});

describe('ForkingUnixStreamServer', () => {
  it('is a UnixStreamServer that serves each connection in a child process', async () => {
    const path = join(tempDir(), 'server.sock');
    const server = new ForkingUnixStreamServer(path, CommandEchoHandler, { maxChildren: 2 });
    const serving = serve(server);
    try {
      expect(server).toBeInstanceOf(UnixStreamServer);
      expect(server.strategy.name).toBe('forking');
      expect(server.strategy.maxConcurrentRequests).toBe(2);
      expect((await exchange(path, 'hello\n')).toString()).toBe('hello\n');
      await server.shutdown();
      await serving;
    } finally {
      await server.serverClose();
    }
    expect(server.strategy.workerCount).toBe(0);
  });
});
