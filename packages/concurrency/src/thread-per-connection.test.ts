import { rmSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { threading } from '@socketserver/concurrency';
import { startServer } from './test-support/recording-server.js';
import { refuseLoadMarker } from './test-support/refuse-load-marker.js';
import { RefusingHandler } from './test-support/refusing-handler.js';
import { openClient, whoami } from './test-support/test-clients.js';

describe('threading()', () => {
  it('reuses an idle thread for the next connection, and retires it after idleThreadTimeoutMs', async () => {
    const idleThreadTimeoutMs = 300;
    const { server } = startServer(threading({ idleThreadTimeoutMs }));
    const first = await openClient(server.port);
    const firstWorker = await whoami(first);
    await first.close();
    await server.waitForRequestEnd(first.localPort);

    const second = await openClient(server.port);
    expect(await whoami(second)).toBe(firstWorker);
    await second.close();
    await server.waitForRequestEnd(second.localPort);
    const idleSince = performance.now();
    await server.waitUntil(() => server.strategy.workerCount === 0);
    expect(performance.now() - idleSince).toBeGreaterThanOrEqual(idleThreadTimeoutMs - 50);
    expect(server.exitedWorkerIds.toSorted()).toEqual(server.startedWorkerIds.toSorted());
    expect(server.serverErrors).toEqual([]);
  });

  it('starts a thread per concurrent connection, up to maxThreads; further connections wait', async () => {
    const { server } = startServer(threading({ maxThreads: 2 }));
    expect(server.strategy.maxConcurrentRequests).toBe(2);
    const clients = [await openClient(server.port), await openClient(server.port)];
    const workers = await Promise.all(clients.map(whoami));
    expect(new Set(workers).size).toBe(2);
    const waiting = await openClient(server.port);
    await waiting.sendAll('!whoami\n');
    // A bounded wait for what must not happen: both threads are taken.
    await expect(waiting.readline({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await clients[0]?.close();
    expect(workers).toContain((await waiting.readline()).toString().trimEnd());
    expect(server.strategy.workerCount).toBe(2);
  });

  it('blockOnClose (default): serverClose tells the handlers to close their connections and waits for them', async () => {
    const { server, serving } = startServer(threading());
    const client = await openClient(server.port);
    await whoami(client);
    await server.serverClose();
    await serving;
    // The handler saw its connection closed and finished before its thread ended; a failure
    // caused by that close on purpose (ERR_CONNECTION_CLOSED) is not reported by the server.
    expect(server.errors).toEqual([]);
    expect(server.strategy.workerCount).toBe(0);
    await client.waitForClose();
  });

  it('blockOnClose waits at most drainTimeoutMs for a handler that does not finish, then terminates it', async () => {
    const { server, serving } = startServer(threading(), { drainTimeoutMs: 300 });
    const client = await openClient(server.port);
    await whoami(client);
    await client.sendAll('!spin\n');
    expect((await client.readline()).toString()).toBe('spinning\n');
    const closing = performance.now();
    await server.serverClose();
    await serving;
    expect(performance.now() - closing).toBeGreaterThanOrEqual(250);
    expect(server.strategy.workerCount).toBe(0);
    await client.waitForClose();
  });

  it('blockOnClose: false terminates the threads at once, a busy one included', async () => {
    const { server, serving } = startServer(threading({ blockOnClose: false }), { drainTimeoutMs: 20_000 });
    const client = await openClient(server.port);
    await whoami(client);
    await client.sendAll('!spin\n');
    expect((await client.readline()).toString()).toBe('spinning\n');
    const closing = performance.now();
    await server.serverClose();
    await serving;
    expect(performance.now() - closing).toBeLessThan(5_000);
    expect(server.strategy.workerCount).toBe(0);
    expect(server.errors).toEqual([]);
    await client.waitForClose();
  });
});

describe('threading() when new threads cannot start', () => {
  it('backs off instead of starting a thread per connection in a tight loop, and serves once they can', async () => {
    const marker = refuseLoadMarker();
    const { server } = startServer(threading(), {}, RefusingHandler);
    const holder = await openClient(server.port);
    await whoami(holder); // keeps the first thread busy

    writeFileSync(marker, ''); // new threads fail to load the handler from now on
    const waiting = await Promise.all([1, 2, 3].map(async () => openClient(server.port)));
    for (const client of waiting) await client.sendAll('!whoami\n');
    const isRunReported = (error: unknown): boolean =>
      (error as { code?: unknown }).code === 'ERR_WORKER_START_FAILED';
    await server.waitUntil(() => server.serverErrors.some(isRunReported));
    // The first thread, then 8 attempts one at a time, backing off from 10 ms: not one per
    // connection and retry.
    expect(server.startedWorkerIds.length).toBeLessThanOrEqual(1 + 8 + 1);
    expect(server.serverErrors.map((error) => (error as { code?: unknown }).code)).toEqual([
      'ERR_HANDLER_LOAD_FAILED',
      'ERR_WORKER_START_FAILED',
    ]);

    // The busy thread serves on, and once threads start again the waiting connections are served.
    await holder.sendAll('still here\n');
    expect((await holder.readline()).toString()).toBe('still here\n');
    rmSync(marker);
    const answers = await Promise.all(waiting.map(async (client) => client.readline()));
    expect(new Set(answers.map(String)).size).toBe(3);
    expect(server.errors).toEqual([]);
  });
});
