import { rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { pool, type WorkerKind } from '@socketserver/concurrency';
import { isProcessAlive, startServer } from './test-support/recording-server.js';
import { refuseLoadMarker } from './test-support/refuse-load-marker.js';
import { RefusingHandler } from './test-support/refusing-handler.js';
import { SlowLoadingHandler, slowLoadVariable } from './test-support/slow-loading-handler.js';
import { openClient, pidOf, whoami } from './test-support/test-clients.js';

const kinds: WorkerKind[] = ['thread', 'process'];

describe.each(kinds)("pool({ kind: '%s' })", (kind) => {
  it('starts every worker before the first request is dispatched', async () => {
    const { server } = startServer(pool({ workers: 3, kind }));
    let startedWhenFirstActive: number | undefined;
    server.on('connectionState', ({ state }) => {
      if (state === 'active') startedWhenFirstActive ??= server.startedWorkerIds.length;
    });
    const client = await openClient(server.port);
    await whoami(client);
    expect(startedWhenFirstActive).toBe(3);
    expect(server.strategy.workerCount).toBe(3);
  });

  it('of 2 workers serves 2 clients at once and leaves a third waiting until one of them closes', async () => {
    const { server } = startServer(pool({ workers: 2, kind }));
    expect(server.strategy.maxConcurrentRequests).toBe(2);
    const first = await openClient(server.port);
    const second = await openClient(server.port);
    const [firstWorker, secondWorker] = [await whoami(first), await whoami(second)];
    expect(firstWorker).not.toBe(secondWorker);

    const third = await openClient(server.port);
    await third.sendAll('!whoami\n');
    // A bounded wait for what must not happen: no worker is free to answer.
    await expect(third.readline({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await first.close();
    expect((await third.readline()).toString().trimEnd()).toBe(firstWorker);
    expect(server.strategy.workerIds).toHaveLength(2);
  });

  it('reports an unhandled rejection in a worker to handleServerError, and the worker goes on', async () => {
    const { server } = startServer(pool({ workers: 1, kind }));
    const client = await openClient(server.port);
    const worker = await whoami(client);
    await client.sendAll('!reject\n');
    expect((await client.readline()).toString()).toBe('rejected\n');
    await server.waitUntil(() => server.serverErrors.length > 0);
    expect(server.serverErrors).toEqual([
      expect.objectContaining({ name: 'TypeError', message: 'rejected and never handled' }),
    ]);
    expect(await whoami(client)).toBe(worker);
    expect(server.errors).toEqual([]);
  });

  it('with requestsPerWorker: 2 serves two clients at once in one worker', async () => {
    const { server } = startServer(pool({ workers: 1, kind, requestsPerWorker: 2 }));
    await server.listening; // its workers accept (the default with requestsPerWorker above 1): they listen first
    expect(server.strategy.maxConcurrentRequests).toBe(2);
    const first = await openClient(server.port);
    const second = await openClient(server.port);
    expect(await whoami(first)).toBe(await whoami(second));
    await first.sendAll('still here\n');
    expect((await first.readline()).toString()).toBe('still here\n');
  });
});

/** Ways a worker dies under load: killed from outside, or by its handler. */
const deaths: {
  kind: WorkerKind;
  how: string;
  kill: (worker: string, send: (line: string) => Promise<void>) => Promise<void>;
}[] = [
  {
    kind: 'process',
    how: 'SIGKILL',
    kill: (worker) => Promise.resolve(void process.kill(pidOf(worker), 'SIGKILL')),
  },
  { kind: 'thread', how: 'process.exit() in the handler', kill: (_worker, send) => send('!exit\n') },
  {
    kind: 'thread',
    how: 'an uncaught exception outside any connection',
    kill: (_worker, send) => send('!crash-outside\n'),
  },
  {
    kind: 'process',
    how: 'an uncaught exception outside any connection',
    kill: (_worker, send) => send('!crash-outside\n'),
  },
];

describe.each(kinds)("an uncaught exception in a connection's own code, pool({ kind: '%s' })", (kind) => {
  it('ends that connection alone, reported as its error; the worker serves on', async () => {
    const { server } = startServer(pool({ workers: 1, kind, requestsPerWorker: 2 }));
    await server.listening; // its workers accept (the default with requestsPerWorker above 1): they listen first
    const doomed = await openClient(server.port);
    const neighbour = await openClient(server.port);
    const worker = await whoami(doomed);
    expect(await whoami(neighbour)).toBe(worker); // one worker serves both

    await doomed.sendAll('!crash\n'); // a timer the handler started throws
    await doomed.waitForClose();
    await server.waitForRequestEnd(doomed.localPort);
    expect(server.errors).toEqual([
      {
        clientAddress: { host: '127.0.0.1', port: doomed.localPort, family: 'IPv4' },
        error: expect.objectContaining({ message: 'uncaught in the worker' }) as unknown,
      },
    ]);
    // The neighbour's connection, on the same worker, goes on; the worker was not replaced.
    await neighbour.sendAll('still here\n');
    expect((await neighbour.readline()).toString()).toBe('still here\n');
    expect(await whoami(neighbour)).toBe(worker);
    expect(server.serverErrors).toEqual([]);
    expect(server.strategy.workerRestarts).toBe(0);
  });
});

describe.each(deaths)('a pool worker dying ($kind, $how)', ({ kind, kill }) => {
  it('is replaced; only its own connections are lost, each reported with ERR_WORKER_EXITED, and the death once', async () => {
    const { server } = startServer(pool({ workers: 2, kind }));
    const doomed = await openClient(server.port);
    const survivor = await openClient(server.port);
    const doomedWorker = await whoami(doomed);
    const survivorWorker = await whoami(survivor);
    expect(doomedWorker).not.toBe(survivorWorker);

    await kill(doomedWorker, (line) => doomed.sendAll(line));
    await doomed.waitForClose();
    await server.waitUntil(() => server.errors.length >= 1 && server.serverErrors.length >= 1);
    expect(server.errors).toEqual([
      {
        clientAddress: { host: '127.0.0.1', port: doomed.localPort, family: 'IPv4' },
        error: expect.objectContaining({ code: 'ERR_WORKER_EXITED' }) as unknown,
      },
    ]);
    expect(server.serverErrors).toEqual([expect.objectContaining({ code: 'ERR_WORKER_EXITED' })]);

    // The survivor's connection goes on, and a replacement serves a new client.
    await survivor.sendAll('still here\n');
    expect((await survivor.readline()).toString()).toBe('still here\n');
    const newcomer = await openClient(server.port);
    expect([doomedWorker, survivorWorker]).not.toContain(await whoami(newcomer));
    expect(server.strategy.workerCount).toBe(2);
    if (kind === 'process') expect(isProcessAlive(pidOf(doomedWorker))).toBe(false);
    expect(server.serverErrors).toHaveLength(1);
  });
});

describe('pool workers that fail to start at start()', () => {
  it('do not fail the server: it serves with those that started, and starts the others with a back-off', async () => {
    writeFileSync(refuseLoadMarker(), 'odd'); // every worker thread with an odd threadId fails to load
    const { server } = startServer(pool({ workers: 4, kind: 'thread' }), {}, RefusingHandler);
    const clients = await Promise.all([1, 2, 3, 4].map(async () => openClient(server.port)));
    const workers = await Promise.all(clients.map(whoami));
    expect(new Set(workers).size).toBe(4); // four workers serve at once: the pool filled up
    expect(server.serverErrors.length).toBeGreaterThan(0);
    for (const error of server.serverErrors) expect(error).toMatchObject({ code: 'ERR_HANDLER_LOAD_FAILED' });
    expect(server.errors).toEqual([]);
  });
});

describe.each(kinds)("pool({ kind: '%s' }) when workers cannot start", (kind) => {
  it('backs off, reports the failures once and in one error, serves on, and recovers', async () => {
    const marker = refuseLoadMarker();
    const { server } = startServer(pool({ workers: 2, kind }), {}, RefusingHandler);
    const doomed = await openClient(server.port);
    const survivor = await openClient(server.port);
    const survivorWorker = await whoami(survivor);
    expect(await whoami(doomed)).not.toBe(survivorWorker);

    // From now on the handler module throws at load: the worker that dies cannot be replaced.
    writeFileSync(marker, '');
    await doomed.sendAll('!exit\n');
    await doomed.waitForClose();
    const isRunReported = (error: unknown): boolean =>
      (error as { code?: unknown }).code === 'ERR_WORKER_START_FAILED' &&
      /^8 workers in a row failed to start/.test((error as Error).message); // or died right after
    await server.waitUntil(() => server.serverErrors.some(isRunReported));
    // The death, the first failure, and the run of 8 in one error: not one line per attempt.
    expect(server.serverErrors).toEqual([
      expect.objectContaining({ code: 'ERR_WORKER_EXITED' }),
      expect.objectContaining({ code: 'ERR_HANDLER_LOAD_FAILED' }),
      expect.objectContaining({ code: 'ERR_WORKER_START_FAILED' }),
    ]);
    // Backing off, 10 ms doubling: the 2 first workers and 8 attempts, not a tight loop.
    expect(server.startedWorkerIds.length).toBeLessThanOrEqual(2 + 8 + 1);

    // The other worker serves on, and once the module loads again the pool is whole again.
    await survivor.sendAll('still here\n');
    expect((await survivor.readline()).toString()).toBe('still here\n');
    rmSync(marker);
    await survivor.close();
    const [first, second] = [await openClient(server.port), await openClient(server.port)];
    const workers = await Promise.all([whoami(first), whoami(second)]);
    expect(workers[0]).not.toBe(workers[1]);
    // Only the connection of the worker that died was lost.
    expect(server.errors.map(({ error }) => (error as { code?: unknown }).code)).toEqual([
      'ERR_WORKER_EXITED',
    ]);
  });
});

describe.each(kinds)("pool({ kind: '%s' }) workers that take 300 ms to load the handler", (kind) => {
  /** Workers started from now on, in this test, take 300 ms to load {@link SlowLoadingHandler}. */
  function loadSlowly(): void {
    process.env[slowLoadVariable] = '300';
    onTestFinished(() => void delete process.env[slowLoadVariable]);
  }

  it('with startTimeoutMs: 0 (off), are waited for, and serve', async () => {
    loadSlowly();
    const { server } = startServer(pool({ workers: 1, kind, startTimeoutMs: 0 }), {}, SlowLoadingHandler);
    const client = await openClient(server.port);
    await client.sendAll('slow start\n');
    expect((await client.readline()).toString()).toBe('slow start\n');
    expect(server.serverErrors).toEqual([]);
    expect(server.startedWorkerIds).toHaveLength(1);
  });

  it('with a small startTimeoutMs, are ended and reported as ERR_WORKER_START_FAILED', async () => {
    loadSlowly();
    const { serving } = startServer(pool({ workers: 1, kind, startTimeoutMs: 50 }), {}, SlowLoadingHandler);
    await expect(serving).rejects.toMatchObject({
      code: 'ERR_WORKER_START_FAILED',
      message: expect.stringMatching(/did not start within 50 ms$/) as unknown,
    });
  });
});

describe.each(kinds)("a pool({ kind: '%s' }) worker whose event loop is blocked", (kind) => {
  it('is reported and replaced after unresponsiveTimeoutMs; its connections are closed, not left hanging', async () => {
    // The main thread accepts: with one thread accepting itself, connections would be refused
    // while its replacement starts.
    const { server } = startServer(
      pool({ workers: 1, kind, requestsPerWorker: 2, unresponsiveTimeoutMs: 300, accept: 'main' }),
    );
    const spinning = await openClient(server.port);
    const neighbour = await openClient(server.port);
    const worker = await whoami(spinning);
    expect(await whoami(neighbour)).toBe(worker);

    await spinning.sendAll('!spin\n'); // blocks the worker's thread for 30 s
    expect((await spinning.readline()).toString()).toBe('spinning\n');
    // Both connections end long before the 30 s are over.
    await Promise.all([spinning.waitForClose(), neighbour.waitForClose()]);
    await server.waitUntil(() => server.errors.length >= 2 && server.serverErrors.length >= 1);
    expect(server.errors.map(({ error }) => (error as { code?: unknown }).code)).toEqual([
      'ERR_WORKER_EXITED',
      'ERR_WORKER_EXITED',
    ]);
    expect(server.serverErrors).toEqual([
      expect.objectContaining({
        code: 'ERR_WORKER_EXITED',
        message: expect.stringContaining('did not answer a health ping for 300 ms') as unknown,
      }),
    ]);
    // A new worker serves the next client.
    const newcomer = await openClient(server.port);
    expect(await whoami(newcomer)).not.toBe(worker);
    expect(server.strategy.workerRestarts).toBe(1);
  });
});

describe.each(kinds)("pool({ kind: '%s' }) workers that die right after they start", (kind) => {
  it('are replaced after a back-off that doubles, not at once again and again', async () => {
    const { server } = startServer(pool({ workers: 1, kind }));
    // For each death, how long until its replacement was started.
    let lastExitAt: number | undefined;
    const gaps: number[] = [];
    server.strategy.on('workerExit', () => (lastExitAt = performance.now()));
    server.strategy.on('workerStart', () => {
      if (lastExitAt !== undefined) gaps.push(performance.now() - lastExitAt);
      lastExitAt = undefined;
    });
    for (let death = 0; death < 4; death += 1) {
      const client = await openClient(server.port);
      await whoami(client); // served by the newest worker
      await client.sendAll('!exit\n'); // which dies at once
      await client.waitForClose();
    }
    await server.waitUntil(() => gaps.length >= 4);
    // Each replacement waited 10 ms, then 20, 40, 80 (timers may fire a ms early on the loop's clock).
    for (const [index, delayMs] of [10, 20, 40, 80].entries()) {
      expect(gaps[index]).toBeGreaterThanOrEqual(delayMs - 2);
    }
  });
});
