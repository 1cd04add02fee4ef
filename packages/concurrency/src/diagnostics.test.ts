// What the worker strategies publish on node:diagnostics_channel: workers started, exited and
// replaced; and connections their workers accepted, published on the main side.
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter, once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ConnectionAcceptedMessage } from '@socketserver/core';
import { pool, type WorkerExitMessage, type WorkerStartMessage } from '@socketserver/concurrency';
import { startServer, waitMs } from './test-support/recording-server.js';
import { openClient } from './test-support/test-clients.js';

/** The messages of the channels named, as `[name, message]`, and an emitter told of each. */
function record(names: readonly string[]): {
  seen: [string, unknown][];
  changes: EventEmitter;
} {
  const seen: [string, unknown][] = [];
  const changes = new EventEmitter();
  for (const name of names) {
    const onMessage = (message: unknown): void => {
      seen.push([name, message]);
      changes.emit('change');
    };
    diagnosticsChannel.subscribe(name, onMessage);
    onTestFinished(() => void diagnosticsChannel.unsubscribe(name, onMessage));
  }
  return { seen, changes };
}

async function until(changes: EventEmitter, isDone: () => boolean): Promise<void> {
  const signal = AbortSignal.timeout(waitMs);
  while (!isDone()) await once(changes, 'change', { signal });
}

describe.each(['thread', 'process'] as const)("pool({ kind: '%s' })", (kind) => {
  it('publishes worker start, restart (with its exit) and exit', async () => {
    const { seen, changes } = record([
      'socketserver:worker:start',
      'socketserver:worker:exit',
      'socketserver:worker:restart',
    ]);
    const strategy = pool({ kind, workers: 1, accept: 'main' });
    const { server } = startServer(strategy);
    await server.listening;
    const ours = (): [string, unknown][] =>
      seen.filter(([, message]) => (message as WorkerStartMessage).strategy === strategy);
    await until(changes, () => ours().length >= 1);
    const [[name, started]] = ours() as [[string, WorkerStartMessage]];
    expect(name).toBe('socketserver:worker:start');
    expect(started).toMatchObject({ kind, id: strategy.workerIds[0] });

    const client = await openClient(server.port);
    await client.sendAll('!exit\n'); // the handler calls process.exit(3)
    await until(changes, () => ours().length >= 4); // restart, exit, and the new one's start
    expect(ours().map(([channel]) => channel)).toEqual([
      'socketserver:worker:start',
      'socketserver:worker:restart',
      'socketserver:worker:exit',
      'socketserver:worker:start',
    ]);
    const restart = ours()[1]?.[1] as WorkerExitMessage;
    expect(restart).toMatchObject({ kind, id: started.id, code: 3, signal: null });
    expect(ours()[2]?.[1]).toEqual(restart);

    await server.serverClose();
    expect(ours().at(-1)).toEqual([
      'socketserver:worker:exit',
      expect.objectContaining({ kind, id: (ours()[3]?.[1] as WorkerStartMessage).id }),
    ]);
  });

  it('publishes the connections its workers accept on the main side, with no socket', async () => {
    const { seen, changes } = record(['socketserver:connection:accepted']);
    const { server } = startServer(pool({ kind, workers: 2, requestsPerWorker: 4, accept: 'workers' }));
    await server.listening;
    expect(server.listenerSharing).toBeDefined();
    const client = await openClient(server.port);
    await client.sendAll('Hello\n');
    expect((await client.readline()).toString()).toBe('Hello\n');
    const ours = (): ConnectionAcceptedMessage[] =>
      seen.map(([, message]) => message as ConnectionAcceptedMessage).filter((m) => m.server === server);
    await until(changes, () => ours().length === 1);
    expect(ours()[0]).toMatchObject({ clientAddress: { host: '127.0.0.1' }, socket: undefined });
  });
});
