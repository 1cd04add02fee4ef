import { describe, expect, it } from 'vitest';
import { forking } from '@socketserver/concurrency';
import { isProcessAlive, startServer } from './test-support/recording-server.js';
import { openClient, pidOf, whoami } from './test-support/test-clients.js';

describe('forking()', () => {
  it('never holds more than maxChildren children; each connection gets its own, reaped when it ends', async () => {
    const { server } = startServer(forking({ maxChildren: 2 }));
    const liveAtEachStart: number[] = [];
    server.strategy.on('workerStart', () => liveAtEachStart.push(server.strategy.workerCount));
    const clients = await Promise.all(Array.from({ length: 4 }, () => openClient(server.port)));
    await Promise.all(clients.map((client) => client.sendAll('!whoami\n')));
    const answer = async (index: number): Promise<number> =>
      pidOf((await clients[index]!.readline()).toString());
    // Two are served; the two others wait for a free child.
    const firstPids = await Promise.all([answer(0), answer(1)]);
    await expect(clients[2]!.readline({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const laterPids: number[] = [];
    for (const [index, waiting] of [
      [0, 2],
      [1, 3],
    ] as const) {
      expect(server.strategy.workerCount).toBeLessThanOrEqual(2);
      await clients[index]!.close();
      laterPids.push(await answer(waiting));
    }
    expect(new Set([...firstPids, ...laterPids]).size).toBe(4);
    // The children of the closed connections have exited and been reaped.
    await server.waitUntil(() => firstPids.every((pid) => server.exitedWorkerIds.includes(pid)));
    expect(firstPids.filter(isProcessAlive)).toEqual([]);
    expect(Math.max(...liveAtEachStart)).toBeLessThanOrEqual(2);
    expect(server.serverErrors).toEqual([]);
  });

  it('keeps a spare child ready, so a connection does not wait for a Node start-up', async () => {
    const { server } = startServer(forking({ spareChildren: 1 }));
    const first = await openClient(server.port);
    const spare = pidOf(await whoami(first));
    // The spare was started with the server, before this client came.
    expect(server.startedWorkerIds[0]).toBe(spare);
    // Another spare is started while the first one serves.
    await server.waitUntil(() => server.startedWorkerIds.length >= 2);
    const second = await openClient(server.port);
    expect(pidOf(await whoami(second))).toBe(server.startedWorkerIds[1]);
  });

  it('a child ignores SIGINT: the parent coordinates shutdown', async () => {
    const { server } = startServer(forking());
    const client = await openClient(server.port);
    const child = pidOf(await whoami(client));
    process.kill(child, 'SIGINT');
    await client.sendAll('still here\n');
    expect((await client.readline()).toString()).toBe('still here\n');
    expect(server.serverErrors).toEqual([]);
  });

  it('reuseChildren: true lets a child serve later connections too', async () => {
    const { server } = startServer(forking({ reuseChildren: true, spareChildren: 0 }));
    const first = await openClient(server.port);
    const child = await whoami(first);
    await first.close();
    await server.waitForRequestEnd(first.localPort);
    const second = await openClient(server.port);
    expect(await whoami(second)).toBe(child);
    expect(server.strategy.workerCount).toBe(1);
  });
});
