import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { connect, type TestClient } from '@socketserver/client';
import type { ClientAddress, RequestHandlerClass, TCPServerOptions } from '@socketserver/core';
import { pool, type PoolOptions, type WorkerKind, type WorkerPool } from '@socketserver/concurrency';
import { makeCertificate } from './test-support/certificate.js';
import { proxyV1Header } from './test-support/proxy-headers.js';
import { isProcessAlive, RecordingServer, startServer, waitMs } from './test-support/recording-server.js';
import { ServerEventLog, WorkerLog } from './test-support/event-logs.js';
import { openClient, pidOf, whoami } from './test-support/test-clients.js';
import { TLSEchoHandler } from './test-support/tls-echo-handler.js';

const kinds: WorkerKind[] = ['thread', 'process'];

/** How workers of each kind share the listening socket: threads bind their own, processes inherit it. */
const sharingOf = { thread: 'reusePort', process: 'inherit' } as const;

/** A pool of `kind` whose workers accept connections themselves. */
function acceptingPool(kind: WorkerKind, options: PoolOptions = {}): WorkerPool {
  return pool({ ...options, kind, accept: 'workers' });
}

/**
 * A {@link RecordingServer} on such a pool (see `startServer`), once its workers listen, and the
 * log of its workers: the server starts them in its constructor, before it could see them start.
 */
async function listeningServer(
  kind: WorkerKind,
  poolOptions: PoolOptions,
  serverOptions: TCPServerOptions = {},
  Handler?: RequestHandlerClass,
): Promise<{ server: RecordingServer; workers: WorkerLog }> {
  const strategy = acceptingPool(kind, poolOptions);
  const workers = new WorkerLog(strategy);
  const { server } = startServer(strategy, serverOptions, Handler);
  await server.listening;
  return { server, workers };
}

/** Send `line` and its `\n`; resolve with the next line received, without its `\n`. */
async function ask(client: TestClient, line: string): Promise<string> {
  await client.sendAll(`${line}\n`);
  return (await client.readline()).toString().trimEnd();
}

/** How a connection attempt went: its line echoed, refused at connect, or closed (or reset) without an echo. */
type Outcome = 'served' | 'refused' | 'unserved';

/**
 * Connect to `port`, send `line`, and tell whether it came back; every wait bounded by `timeoutMs`
 * (a client left hanging fails the test with ERR_TIMEOUT). The client is closed before this resolves.
 */
async function tryEcho(port: number, line: string, timeoutMs = 5000): Promise<Outcome> {
  let client: TestClient;
  try {
    client = await connect('127.0.0.1', port, { timeoutMs });
  } catch (error) {
    const { code } = error as { code?: string };
    if (code === 'ERR_CONNECTION_REFUSED') return 'refused';
    if (code === 'ERR_CONNECTION_RESET') return 'unserved';
    throw error;
  }
  try {
    await client.sendAll(`${line}\n`, { timeoutMs });
    const answer = await client.readline({ timeoutMs });
    return answer.toString() === `${line}\n` ? 'served' : 'unserved';
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_CONNECTION_RESET') return 'unserved';
    throw error;
  } finally {
    client.destroy();
  }
}

/** Which worker serves a new client of `port` (`whoami`); the client is closed before this resolves. */
async function servingWorker(port: number): Promise<string> {
  const client = await connect('127.0.0.1', port);
  try {
    return await whoami(client);
  } finally {
    await client.close();
  }
}

/** The id of the worker that answered `worker` to `!whoami`: its threadId, or its pid. */
function workerIdOf(worker: string, kind: WorkerKind): number {
  return kind === 'process' ? pidOf(worker) : Number(worker.split(' ')[1]);
}

/** Check that `worker` (`<pid> <threadId>` from `!whoami`) is a worker of `kind` that `startedWorkerIds` saw start. */
function expectWorker(worker: string, kind: WorkerKind, startedWorkerIds: readonly number[]): void {
  const [pid, workerThreadId] = worker.split(' ').map(Number);
  expect(worker).not.toBe(`${process.pid} ${threadId}`);
  if (kind === 'thread') {
    expect(pid).toBe(process.pid);
    expect(startedWorkerIds).toContain(workerThreadId);
  } else {
    expect(pid).not.toBe(process.pid);
    expect(startedWorkerIds).toContain(pid);
  }
}

/** Check that every worker `server` started (in `workers`) has exited, and that no worker process is left. */
function expectNoWorkerLeft(server: RecordingServer, workers: WorkerLog): void {
  expect(server.strategy.workerCount).toBe(0);
  expect(workers.startedWorkerIds.length).toBeGreaterThan(0);
  expect(workers.exitedWorkerIds.toSorted()).toEqual(workers.startedWorkerIds.toSorted());
  if (server.strategy.kind === 'process') {
    expect(workers.startedWorkerIds.filter(isProcessAlive)).toEqual([]);
  }
}

/** The file's throw-away certificate directory, and the server's key and self-signed certificate. */
let directory: string;
let key: string;
let cert: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'ssc-accept-'));
  ({ key, cert } = makeCertificate(directory, 'server'));
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Connect over TLS to `port` (trusting the test certificate), send `lines`, and resolve with the answers, without their `\n`. */
async function askOverTLS(port: number, lines: readonly string[]): Promise<string[]> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: cert });
  onTestFinished(() => void socket.destroy());
  const signal = AbortSignal.timeout(waitMs);
  await once(socket, 'secureConnect', { signal });
  expect(socket.authorized).toBe(true);
  let received = '';
  socket.setEncoding('utf8').on('data', (text: string) => (received += text));
  socket.write(lines.map((line) => `${line}\n`).join(''));
  for (let turn = 0; turn < 100 && received.split('\n').length <= lines.length; turn += 1) {
    await once(socket, 'data', { signal });
  }
  socket.end();
  return received.split('\n').slice(0, lines.length);
}

describe.each(kinds)("pool({ kind: '%s', accept: 'workers' })", (kind) => {
  it(`lets each worker accept (listenerSharing '${sharingOf[kind]}'): several clients are served, by more than one worker`, async () => {
    const { server, workers } = await listeningServer(kind, { workers: 2, requestsPerWorker: 4 });
    expect(server.listenerSharing).toBe(sharingOf[kind]);

    // Four clients at once, each echoed, each by a worker (never this thread).
    const clients = await Promise.all([0, 1, 2, 3].map(async () => openClient(server.port)));
    expect(await Promise.all(clients.map(async (client, index) => ask(client, `client ${index}`)))).toEqual([
      'client 0',
      'client 1',
      'client 2',
      'client 3',
    ]);
    for (const client of clients) expectWorker(await whoami(client), kind, workers.startedWorkerIds);
    await Promise.all(clients.map(async (client) => client.close()));

    // One client after the other, until two workers have answered: both accept.
    const answering = new Set<string>();
    for (let attempt = 0; attempt < 60 && answering.size < 2; attempt += 1) {
      answering.add(await servingWorker(server.port));
    }
    expect(answering.size).toBe(2);
    for (const worker of answering) expectWorker(worker, kind, workers.startedWorkerIds);
    expect(server.errors).toEqual([]);
    expect(server.serverErrors).toEqual([]);
  });

  it('stats() counts what the workers accept, and connectionState goes new, active, closed', async () => {
    const { server } = await listeningServer(kind, { workers: 1 });
    const log = new ServerEventLog(server);
    const client = await openClient(server.port);
    const port = client.localPort;
    expect(await ask(client, 'hello worker')).toBe('hello worker');
    await log.waitForState(port, 'active');
    expect(server.stats()).toMatchObject({ accepted: 1, active: 1, waiting: 0 });

    await client.close();
    await log.waitForState(port, 'closed');
    expect(log.statesOf(port)).toEqual(['new', 'active', 'closed']);
    expect(log.states.map(({ clientAddress }) => clientAddress)).toEqual([
      { host: '127.0.0.1', port, family: 'IPv4' },
      { host: '127.0.0.1', port, family: 'IPv4' },
      { host: '127.0.0.1', port, family: 'IPv4' },
    ]);
    expect(server.stats()).toMatchObject({
      accepted: 1,
      active: 0,
      waiting: 0,
      bytesIn: 13,
      bytesOut: 13,
      handlerErrors: 0,
      workerRestarts: 0,
    });
  });

  it('with requestsPerWorker 1, a second client waits in the worker, unserved, until the first closes', async () => {
    const { server } = await listeningServer(kind, { workers: 1, requestsPerWorker: 1 });
    const log = new ServerEventLog(server);
    const first = await openClient(server.port);
    expect(await ask(first, 'first')).toBe('first');

    const second = await openClient(server.port);
    await log.waitForState(second.localPort, 'new');
    expect(server.stats()).toMatchObject({ accepted: 2, active: 1, waiting: 1 });
    await second.sendAll('second\n');
    // A bounded wait for what must not happen: the worker's only slot is taken.
    await expect(second.readline({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(log.statesOf(second.localPort)).toEqual(['new']);
    expect(server.stats()).toMatchObject({ active: 1, waiting: 1 });

    await first.close();
    expect((await second.readline()).toString()).toBe('second\n');
    await log.waitForState(second.localPort, 'active');
    await log.waitForState(first.localPort, 'closed');
    expect(log.statesOf(second.localPort)).toEqual(['new', 'active']);
    expect(server.stats()).toMatchObject({ accepted: 2, active: 1, waiting: 0 });
  });

  it.each([
    { reason: 'maxConnections', options: { maxConnections: 2 } },
    { reason: 'requestQueueSize', options: { requestQueueSize: 1 } },
  ] as const)(
    'with one worker of one slot and $options, drops a third client unserved, with reason $reason',
    async ({ reason, options }) => {
      const { server } = await listeningServer(kind, { workers: 1, requestsPerWorker: 1 }, options);
      const log = new ServerEventLog(server);
      const first = await openClient(server.port);
      expect(await ask(first, 'first')).toBe('first');
      const second = await openClient(server.port); // waits for the slot
      await log.waitForState(second.localPort, 'new');

      const third = await openClient(server.port);
      expect((await third.recvUntilClosed()).length).toBe(0);
      await log.waitUntil(() => log.dropsOf(third.localPort).length > 0, 'the drop of the third client');
      expect(log.dropsOf(third.localPort)).toEqual([reason]);
      expect(log.drops.map(({ clientAddress }) => clientAddress)).toEqual([
        { host: '127.0.0.1', port: third.localPort, family: 'IPv4' },
      ]);
      expect(log.statesOf(third.localPort)).toEqual([]);
      expect(server.stats()).toMatchObject({
        accepted: 3,
        active: 1,
        waiting: 1,
        refused: {
          verifyRequest: 0,
          maxConnections: reason === 'maxConnections' ? 1 : 0,
          requestQueueSize: reason === 'requestQueueSize' ? 1 : 0,
        },
      });

      // The waiting client is served once the first is gone.
      await first.close();
      expect(await ask(second, 'second')).toBe('second');
      expect(server.errors).toEqual([]);
    },
  );

  // The workers' shares of maxConnections never add up to more: with fewer than workers, some
  // workers do not listen.
  it('never holds more than maxConnections at once, even when it is below the number of workers', async () => {
    const { server } = await listeningServer(
      kind,
      { workers: 2, requestsPerWorker: 1 },
      { maxConnections: 1 },
    );
    const held = await openClient(server.port);
    expect(await ask(held, 'held')).toBe('held');
    const outcomes: Outcome[] = [];
    for (let index = 0; index < 20; index += 1) outcomes.push(await tryEcho(server.port, `extra ${index}`));
    expect(outcomes).not.toContain('served');
  });

  it('hands off instead when verifyRequest is overridden: the server accepts, refuses, and counts the refusal', async () => {
    class VerifyingServer extends RecordingServer {
      isRefusing = true;

      override verifyRequest(_request: Socket, _clientAddress: ClientAddress): boolean {
        return !this.isRefusing;
      }
    }
    const strategy = acceptingPool(kind, { workers: 2 });
    const workers = new WorkerLog(strategy);
    const server = new VerifyingServer(strategy);
    onTestFinished(() => server.serverClose());
    server.serveForever().catch(() => {});
    await server.listening;
    expect(server.listenerSharing).toBeUndefined();

    expect(await tryEcho(server.port, 'refused?')).toBe('unserved');
    expect(server.stats().refused.verifyRequest).toBe(1);

    server.isRefusing = false;
    const client = await openClient(server.port);
    expect(await ask(client, 'accepted')).toBe('accepted');
    expectWorker(await whoami(client), kind, workers.startedWorkerIds);
    expect(server.stats()).toMatchObject({ accepted: 2, refused: { verifyRequest: 1 } });
    expect(server.errors).toEqual([]);
  });

  it('serves TLS, the handshake in the worker that accepted', async () => {
    const { server, workers } = await listeningServer(
      kind,
      { workers: 2 },
      { tls: { key, cert } },
      TLSEchoHandler,
    );
    expect(server.listenerSharing).toBe(sharingOf[kind]);
    const [echoed, socket, worker] = await askOverTLS(server.port, ['Hello over TLS', '!tls', '!whoami']);
    expect(echoed).toBe('Hello over TLS');
    expect(JSON.parse(socket ?? '')).toMatchObject({ isTLSSocket: true, encrypted: true });
    expectWorker(worker ?? '', kind, workers.startedWorkerIds);
    expect(server.errors).toEqual([]);
  });

  it('reads a PROXY v1 header in the worker that accepted: the handler sees the original client', async () => {
    const { server, workers } = await listeningServer(kind, { workers: 2 }, { proxyProtocol: 'v1' });
    expect(server.listenerSharing).toBe(sharingOf[kind]);
    const client = await openClient(server.port);
    await client.sendAll(Buffer.concat([proxyV1Header('203.0.113.7', 51234), Buffer.from('!address\n')]));
    expect(JSON.parse((await client.readline()).toString())).toEqual({
      host: '203.0.113.7',
      port: 51234,
      family: 'IPv4',
    });
    expect(await ask(client, 'after the header')).toBe('after the header');
    expectWorker(await whoami(client), kind, workers.startedWorkerIds);
    expect(server.errors).toEqual([]);
  });

  it('shutdown() lets a connected client finish, serves no new connection, and leaves no worker', async () => {
    const { server, workers } = await listeningServer(kind, { workers: 2 });
    const client = await openClient(server.port);
    expect(await ask(client, 'before')).toBe('before');

    const stopping = server.shutdown();
    expect(server.stats().draining).toBe(true);
    // A connection attempted once the shutdown started, at once: refused, or closed without an echo.
    expect(await tryEcho(server.port, 'too late')).not.toBe('served');
    expect(await ask(client, 'during the drain')).toBe('during the drain');
    expect(await tryEcho(server.port, 'later still')).not.toBe('served');
    expect(await ask(client, 'still during the drain')).toBe('still during the drain');

    await client.close();
    await stopping;
    expectNoWorkerLeft(server, workers);
    expect(await tryEcho(server.port, 'after')).toBe('refused');
    expect(server.errors).toEqual([]);
    expect(server.serverErrors).toEqual([]);
  });

  it('shutdown() closes a connection waiting in a worker, unserved, and serves the active one to its end', async () => {
    const { server, workers } = await listeningServer(kind, { workers: 1, requestsPerWorker: 1 });
    const log = new ServerEventLog(server);
    const active = await openClient(server.port);
    expect(await ask(active, 'served')).toBe('served');
    const waiting = await openClient(server.port);
    await log.waitForState(waiting.localPort, 'new');

    const stopping = server.shutdown();
    await waiting.sendAll('never served\n').catch(() => {}); // it may be closed already
    expect(await waiting.recvUntilClosed().then(String, (error: { code?: string }) => error.code)).toMatch(
      /^(|ERR_CONNECTION_RESET)$/,
    );
    await log.waitForState(waiting.localPort, 'closed');
    expect(log.statesOf(waiting.localPort)).toEqual(['new', 'closed']);
    expect(await ask(active, 'during the drain')).toBe('during the drain');

    await active.close();
    await stopping;
    expectNoWorkerLeft(server, workers);
  });

  // A connection closed while waiting in its worker leaves the waiting count, not the active one.
  it('stats() counts the waiting connection that shutdown() closed as waiting, not as active', async () => {
    const { server } = await listeningServer(kind, { workers: 1, requestsPerWorker: 1 });
    const log = new ServerEventLog(server);
    const active = await openClient(server.port);
    expect(await ask(active, 'served')).toBe('served');
    const waiting = await openClient(server.port);
    await log.waitForState(waiting.localPort, 'new');
    expect(server.stats()).toMatchObject({ active: 1, waiting: 1 });

    const stopping = server.shutdown();
    await log.waitForState(waiting.localPort, 'closed');
    try {
      expect(server.stats()).toMatchObject({ active: 1, waiting: 0 });
    } finally {
      await active.close();
      await stopping;
    }
  });

  it('serverClose() closes at once: the client is closed, no worker is left, the port refuses', async () => {
    const { server, workers } = await listeningServer(kind, { workers: 2 });
    const client = await openClient(server.port);
    expect(await ask(client, 'hello')).toBe('hello');

    await server.serverClose();
    await client.waitForClose();
    expectNoWorkerLeft(server, workers);
    expect(await tryEcho(server.port, 'after')).toBe('refused');
    expect(server.serverErrors).toEqual([]);
  });

  it('refuses handleRequest() with ERR_SERVER_STATE; serveForever() serves after it', async () => {
    const strategy = acceptingPool(kind, { workers: 1 });
    const workers = new WorkerLog(strategy);
    const server = new RecordingServer(strategy);
    onTestFinished(() => server.serverClose());
    await server.listening;
    expect(server.listenerSharing).toBe(sharingOf[kind]);
    await expect(server.handleRequest()).rejects.toMatchObject({
      code: 'ERR_SERVER_STATE',
      message: expect.stringContaining('accept connections themselves') as unknown,
    });

    server.serveForever().catch(() => {});
    const client = await openClient(server.port);
    expect(await ask(client, 'served after')).toBe('served after');
    expectWorker(await whoami(client), kind, workers.startedWorkerIds);
  });
});

/** Ways a worker of a pool of 2 dies: killed from outside, or by an uncaught exception; resolves with its id. */
const deaths: { kind: WorkerKind; how: string; kill: (server: RecordingServer) => Promise<number> }[] = [
  {
    kind: 'process',
    how: 'SIGKILL',
    kill: (server) => {
      const [pid = 0] = server.strategy.workerIds;
      process.kill(pid, 'SIGKILL');
      return Promise.resolve(pid);
    },
  },
  {
    kind: 'thread',
    how: 'an uncaught exception outside any connection',
    kill: async (server) => {
      const doomed = await openClient(server.port);
      const worker = await whoami(doomed);
      await doomed.sendAll('!crash-outside\n');
      return workerIdOf(worker, 'thread');
    },
  },
];

describe.each(deaths)(
  "a pool({ kind: '$kind', accept: 'workers' }) worker dying ($how)",
  ({ kind, kill }) => {
    it('never takes the listener: every client that connects after its exit is served, and it is replaced', async () => {
      const { server, workers } = await listeningServer(kind, { workers: 2 });
      const outcomes: { isAfterExit: boolean; outcome: Outcome }[] = [];
      const afterExit = (): Outcome[] =>
        outcomes.filter((each) => each.isAfterExit).map((each) => each.outcome);
      let victim: number | undefined;
      for (let index = 0; index < 60 && afterExit().length < 20; index += 1) {
        if (index === 3) victim = await kill(server);
        const isAfterExit = victim !== undefined && workers.exitedWorkerIds.includes(victim);
        outcomes.push({ isAfterExit, outcome: await tryEcho(server.port, `client ${index}`) });
      }
      expect(outcomes.slice(0, 3).map((each) => each.outcome)).toEqual(['served', 'served', 'served']);
      expect(afterExit()).toEqual(Array<Outcome>(20).fill('served'));

      // Replaced: a third worker started, and the pool is whole again.
      await workers.waitUntil(() => workers.startedWorkerIds.length >= 3, 'a replacement');
      expect(workers.startedWorkerIds).toHaveLength(3);
      expect(server.stats().workerRestarts).toBe(1);
      expect(server.serverErrors).toEqual([expect.objectContaining({ code: 'ERR_WORKER_EXITED' })]);
      if (kind === 'process') expect(isProcessAlive(victim ?? 0)).toBe(false);
      // The replacement accepts too, once it has started: clients one after the other until it
      // answers (bounded in count and time; nothing tells when it listens).
      const replacement = workers.startedWorkerIds[2];
      const deadline = performance.now() + waitMs;
      let isReplacementSeen = false;
      for (let attempt = 0; attempt < 2000 && performance.now() < deadline; attempt += 1) {
        isReplacementSeen = workerIdOf(await servingWorker(server.port), kind) === replacement;
        if (isReplacementSeen) break;
      }
      expect(isReplacementSeen).toBe(true);
    });
  },
);

describe("pool({ accept: 'workers' }) options", () => {
  it('rejects an accept that is neither main nor workers with ERR_INVALID_OPTION', () => {
    expect(() => pool({ accept: 'nope' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });
});
