import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TCPServer, UDPServer, UnixDatagramServer, type DatagramRequest } from '@socketserver/core';
import {
  forking,
  ForkingUDPServer,
  ForkingUnixDatagramServer,
  pool,
  threading,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  WorkerPoolUDPServer,
  type WorkerPool,
} from '@socketserver/concurrency';
import { CommandEchoHandler } from './test-support/command-echo-handler.js';
import { DatagramCommandHandler } from './test-support/datagram-handlers.js';
import {
  makeTempDir,
  RecordingUDPServer,
  RecordingUnixDatagramServer,
  serve,
  tempDir,
  UDPClient,
  UnixDgramClient,
} from './test-support/datagram-servers.js';
import { isProcessAlive } from './test-support/recording-server.js';

/**
 * Each strategy as a datagram server takes it: `threading()` and the others infer `DatagramRequest`.
 * Forking reuses its children here: a child per datagram costs a Node start-up each (some 150 ms of
 * CPU), and 100 of them take 20 s on a 2-core machine. A child per datagram, the default, is tested
 * with ForkingUDPServer below.
 */
const strategies: { label: string; create: () => WorkerPool<DatagramRequest> }[] = [
  { label: 'threading()', create: () => threading() },
  { label: 'forking({ reuseChildren: true })', create: () => forking({ reuseChildren: true }) },
  { label: "pool({ kind: 'thread' })", create: () => pool({ workers: 2 }) },
  { label: "pool({ kind: 'process' })", create: () => pool({ workers: 2, kind: 'process' }) },
];

/** Which worker served a `!whoami`: its pid and threadId. */
function parseWhoami(answer: Buffer): { pid: number; threadId: number } {
  const [pid, threadId] = answer.toString().split(' ').map(Number);
  return { pid: pid ?? 0, threadId: threadId ?? 0 };
}

/** After closing: no worker left, every worker started has exited, and no child process lingers. */
function expectNoWorkerLeft(server: RecordingUDPServer | RecordingUnixDatagramServer): void {
  const { strategy, recorder } = server;
  expect(strategy.workerCount).toBe(0);
  expect(recorder.exitedWorkerIds.toSorted()).toEqual(recorder.startedWorkerIds.toSorted());
  if (strategy.kind === 'process') expect(recorder.startedWorkerIds.filter(isProcessAlive)).toEqual([]);
}

// One server per strategy, shared by its tests (starting threads and processes is slow); the
// worker-killing test comes last.
describe.each(strategies)('UDPServer on $label', ({ create }) => {
  let server: RecordingUDPServer;
  let serving: Promise<void>;

  beforeAll(async () => {
    server = new RecordingUDPServer(create());
    serving = serve(server);
    await server.listening;
  });

  afterAll(async () => {
    await server.serverClose();
    await serving;
    expectNoWorkerLeft(server);
  });

  beforeEach(() => server.recorder.clearErrors());

  it("echoes 'Hello' from the server's port, the handler running in a worker", async () => {
    const client = await UDPClient.open();
    const echo = await client.request('Hello', server.port);
    expect(echo.data.toString()).toBe('Hello');
    expect(echo.from).toMatchObject({ address: '127.0.0.1', port: server.port });

    const who = await client.request('!whoami', server.port);
    expect(who.from.port).toBe(server.port);
    const { pid, threadId } = parseWhoami(who.data);
    if (server.strategy.kind === 'thread') {
      // Another thread of this process: not the main thread (threadId 0).
      expect(pid).toBe(process.pid);
      expect(threadId).not.toBe(0);
      expect(server.recorder.startedWorkerIds).toContain(threadId);
    } else {
      expect(pid).not.toBe(process.pid);
      expect(server.recorder.startedWorkerIds).toContain(pid);
    }
    expect(server.recorder.errors).toEqual([]);
  });

  it('answers 100 datagrams from 10 clients, each to its sender', async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => UDPClient.open()));
    // Paced: each client waits for its answer before the next datagram, so loopback never drops one.
    await Promise.all(
      clients.map(async (client, index) => {
        for (let sequence = 0; sequence < 10; sequence += 1) {
          const payload = `client ${index} datagram ${sequence} ${'.'.repeat(index * 100)}`;
          const reply = await client.request(payload, server.port);
          expect(reply.data.toString()).toBe(payload);
          expect(reply.from.port).toBe(server.port);
        }
      }),
    );
    expect(server.recorder.errors).toEqual([]);
    expect(server.recorder.serverErrors).toEqual([]);
  });

  it("reports a handler's error to handleError with the request and the client's address, and goes on serving", async () => {
    const client = await UDPClient.open();
    await client.send('!throw', server.port);
    await server.recorder.waitUntil(() => server.recorder.errors.length >= 1);
    const [reported] = server.recorder.errors;
    expect(reported?.clientAddress).toEqual({ host: '127.0.0.1', port: client.port, family: 'IPv4' });
    expect(reported?.error).toBeInstanceOf(Error);
    expect(reported?.error).toMatchObject({ name: 'RangeError', message: 'thrown by the handler' });
    expect(reported?.request?.[0].toString()).toBe('!throw');
    expect(reported?.request?.[1]).toBe(server.socket);

    expect((await client.request('still serving', server.port)).data.toString()).toBe('still serving');
    // A sendTo the server cannot make rejects in the worker with ERR_SEND_FAILED.
    expect((await client.request('!badsend', server.port)).data.toString()).toBe('SendError ERR_SEND_FAILED');
    expect(server.recorder.errors).toHaveLength(1);
    expect(server.recorder.serverErrors).toEqual([]);
  });

  it('reports a worker that dies mid-request (ERR_WORKER_EXITED) and serves the next datagram', async () => {
    const client = await UDPClient.open();
    await client.send('!exit', server.port);
    await server.recorder.waitUntil(
      () => server.recorder.errors.length >= 1 && server.recorder.serverErrors.length >= 1,
    );
    expect(server.recorder.errors).toEqual([
      {
        request: [Buffer.from('!exit'), server.socket],
        clientAddress: { host: '127.0.0.1', port: client.port, family: 'IPv4' },
        error: expect.objectContaining({
          code: 'ERR_WORKER_EXITED',
          message: expect.stringMatching(
            /^request lost: its worker (thread|process) \d+ exited with code 3/,
          ) as unknown,
        }) as unknown,
      },
    ]);
    expect(server.recorder.serverErrors).toEqual([expect.objectContaining({ code: 'ERR_WORKER_EXITED' })]);

    const next = await client.request('next', server.port);
    expect(next.data.toString()).toBe('next');
    expect(next.from.port).toBe(server.port);
    // A pool replaces the worker that died.
    if (server.strategy.name.endsWith('pool')) {
      await server.recorder.waitUntil(() => server.strategy.workerCount === 2);
    }
    expect(server.recorder.errors).toHaveLength(1);
    expect(server.recorder.serverErrors).toHaveLength(1);
  });
});

describe('UDPServer on IPv6 loopback', () => {
  it("answers a client on ::1 through the server's socket (pool of 1 thread)", async () => {
    const server = new RecordingUDPServer(pool({ workers: 1 }), ['::1', 0]);
    const serving = serve(server);
    try {
      const client = await UDPClient.open('::1');
      const echo = await client.request('Hello', server.port);
      expect(echo.data.toString()).toBe('Hello');
      expect(echo.from).toMatchObject({ address: '::1', port: server.port });
      expect(server.recorder.errors).toEqual([]);
    } finally {
      await server.serverClose();
      await serving;
    }
    expectNoWorkerLeft(server);
  });
});

describe.each([
  { label: 'forking()', create: (): WorkerPool<DatagramRequest> => forking() },
  {
    label: "pool({ kind: 'process' })",
    create: (): WorkerPool<DatagramRequest> => pool({ workers: 1, kind: 'process' }),
  },
])('UnixDatagramServer on $label', ({ create }) => {
  let server: RecordingUnixDatagramServer;
  let serving: Promise<void>;
  const dir = makeTempDir();

  beforeAll(async () => {
    server = new RecordingUnixDatagramServer(create(), join(dir.path, 'server.sock'));
    serving = serve(server);
    await server.listening;
  });

  afterAll(async () => {
    try {
      await server.serverClose();
      await serving;
      expectNoWorkerLeft(server);
    } finally {
      dir.remove();
    }
  });

  it("echoes to a bound client from the server's path, the handler running in a child process", async () => {
    const client = new UnixDgramClient(join(dir.path, 'client.sock'));
    const echo = await client.request('Hello', server.serverAddress);
    expect(echo.data.toString()).toBe('Hello');
    expect(echo.from).toBe(server.serverAddress);
    const who = await client.request('!whoami', server.serverAddress);
    const [pid] = who.data.toString().split(' ').map(Number);
    expect(pid).not.toBe(process.pid);
    expect(server.recorder.startedWorkerIds).toContain(pid);
    expect(server.recorder.errors).toEqual([]);
  });

  it("reports the failed reply to an unbound client (ERR_SEND_FAILED from the server's socket) with its address", async () => {
    const client = new UnixDgramClient();
    await client.send('Hello', server.serverAddress);
    await server.recorder.waitUntil(() => server.recorder.errors.length >= 1);
    expect(server.recorder.errors).toEqual([
      {
        request: [Buffer.from('Hello'), server.socket],
        clientAddress: { family: 'Unix', path: '' },
        error: expect.objectContaining({ code: 'ERR_SEND_FAILED' }) as unknown,
      },
    ]);
    expect(server.recorder.serverErrors).toEqual([]);
  });
});

describe('the datagram server classes', () => {
  it.each([
    {
      name: 'ThreadingUDPServer',
      open: () => new ThreadingUDPServer(['127.0.0.1', 0], DatagramCommandHandler, { maxThreads: 2 }),
      strategy: 'threading',
    },
    {
      name: 'ForkingUDPServer',
      open: () => new ForkingUDPServer(['127.0.0.1', 0], DatagramCommandHandler, { maxChildren: 2 }),
      strategy: 'forking',
    },
    {
      name: 'WorkerPoolUDPServer',
      open: () => new WorkerPoolUDPServer(['127.0.0.1', 0], DatagramCommandHandler, { workers: 2 }),
      strategy: 'thread-pool',
    },
  ])('$name is a UDPServer on the $strategy strategy', async ({ open, strategy }) => {
    const server = open();
    const serving = serve(server);
    try {
      expect(server).toBeInstanceOf(UDPServer);
      expect(server.strategy.name).toBe(strategy);
      expect(server.strategy.maxConcurrentRequests).toBe(2);
      const client = await UDPClient.open();
      expect((await client.request('Hello', server.port)).data.toString()).toBe('Hello');
      const pids = [];
      for (let index = 0; index < 3; index += 1) {
        pids.push(parseWhoami((await client.request('!whoami', server.port)).data).pid);
      }
      // Python's ForkingUDPServer: a child process per datagram. Threads are reused while idle.
      if (strategy === 'forking') expect(new Set([...pids, process.pid]).size).toBe(4);
      else expect(new Set(pids)).toEqual(new Set([process.pid]));
      await server.shutdown();
      await serving;
    } finally {
      await server.serverClose();
    }
    expect(server.strategy.workerCount).toBe(0);
  });

  it.each([
    {
      name: 'ThreadingUnixDatagramServer',
      open: (path: string) =>
        new ThreadingUnixDatagramServer(path, DatagramCommandHandler, { maxThreads: 2 }),
      strategy: 'threading',
    },
    {
      name: 'ForkingUnixDatagramServer',
      open: (path: string) => new ForkingUnixDatagramServer(path, DatagramCommandHandler, { maxChildren: 2 }),
      strategy: 'forking',
    },
  ])('$name is a UnixDatagramServer on the $strategy strategy', async ({ open, strategy }) => {
    const dir = tempDir();
    const server = open(join(dir, 'server.sock'));
    const serving = serve(server);
    try {
      expect(server).toBeInstanceOf(UnixDatagramServer);
      expect(server.strategy.name).toBe(strategy);
      const client = new UnixDgramClient(join(dir, 'client.sock'));
      expect((await client.request('Hello', server.serverAddress)).data.toString()).toBe('Hello');
      await server.shutdown();
      await serving;
    } finally {
      await server.serverClose();
    }
    expect(server.strategy.workerCount).toBe(0);
  });

  it('threading(), forking() and pool() type as the strategy of a stream or a datagram server', async () => {
    // Checked by the type checker: each call infers the request type from the server it is given to.
    const servers = [
      new UDPServer(['127.0.0.1', 0], DatagramCommandHandler, {
        strategy: threading(),
        bindAndActivate: false,
      }),
      new UDPServer(['127.0.0.1', 0], DatagramCommandHandler, {
        strategy: forking(),
        bindAndActivate: false,
      }),
      new UDPServer(['127.0.0.1', 0], DatagramCommandHandler, { strategy: pool(), bindAndActivate: false }),
      new TCPServer(['127.0.0.1', 0], CommandEchoHandler, { strategy: threading(), bindAndActivate: false }),
      new TCPServer(['127.0.0.1', 0], CommandEchoHandler, { strategy: forking(), bindAndActivate: false }),
      new TCPServer(['127.0.0.1', 0], CommandEchoHandler, { strategy: pool(), bindAndActivate: false }),
    ];
    for (const server of servers) await server.serverClose();
    expect(servers.map((server) => server.strategy.name)).toEqual([
      'threading',
      'forking',
      'thread-pool',
      'threading',
      'forking',
      'thread-pool',
    ]);
  });
});
