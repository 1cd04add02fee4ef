import { describe, expect, it } from 'vitest';
import { pool, type WorkerKind } from '@socketserver/concurrency';
import { startServer } from './test-support/recording-server.js';
import { openClient } from './test-support/test-clients.js';

const kinds: WorkerKind[] = ['thread', 'process'];

describe.each(kinds)("stats() with pool({ kind: '%s' })", (kind) => {
  it('counts the bytes of connections served in workers, and a worker that died and was replaced', async () => {
    const { server } = startServer(pool({ workers: 1, kind }));
    const client = await openClient(server.port);
    await client.sendAll('hello worker\n');
    expect((await client.readline()).toString()).toBe('hello worker\n');
    await client.close();
    await server.waitUntil(() => server.closedPorts.length === 1);
    expect(server.stats()).toMatchObject({
      accepted: 1,
      active: 0,
      bytesIn: 13,
      bytesOut: 13,
      workerRestarts: 0,
    });

    const dying = await openClient(server.port);
    await dying.sendAll('!exit\n');
    await server.waitUntil(() => server.serverErrors.length === 1 && server.closedPorts.length === 2);
    expect(server.stats()).toMatchObject({ accepted: 2, workerRestarts: 1, handlerErrors: 1 });
  });
});
