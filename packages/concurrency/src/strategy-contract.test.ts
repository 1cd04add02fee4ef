import { isMainThread } from 'node:worker_threads';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ClientAddress } from '@socketserver/core';
import { StreamRequestHandler } from '@socketserver/handlers';
import { forking, pool, threading, type WorkerPool } from '@socketserver/concurrency';
import { CommandEchoHandler } from './test-support/command-echo-handler.js';
import { isProcessAlive, RecordingServer, startServer } from './test-support/recording-server.js';
import { openClient, pidOf, randomLines, whoami } from './test-support/test-clients.js';

const strategies: { label: string; create: () => WorkerPool }[] = [
  { label: 'threading()', create: () => threading() },
  { label: 'forking()', create: () => forking() },
  { label: "pool({ kind: 'thread' })", create: () => pool({ workers: 2 }) },
  { label: "pool({ kind: 'process' })", create: () => pool({ workers: 2, kind: 'process' }) },
];

/** A handler class that says nothing of where it lives. */
class UnlocatableHandler extends StreamRequestHandler {}

/** A handler class whose module lacks the export it names. */
class MissingExportHandler extends CommandEchoHandler {
  static exportName = 'NoSuchHandler';
}

describe.each(strategies)('the worker strategy contract: $label', ({ create }) => {
  it('serves two clients at the same time', async () => {
    const { server } = startServer(create());
    const first = await openClient(server.port);
    await first.sendAll('one\n');
    expect((await first.readline()).toString()).toBe('one\n');
    const second = await openClient(server.port);
    await second.sendAll('two\n');
    expect((await second.readline()).toString()).toBe('two\n');
    await first.sendAll('one again\n');
    expect((await first.readline()).toString()).toBe('one again\n');
    expect(await whoami(first)).not.toBe(await whoami(second));
  });

  it('echoes 256 KiB of random lines byte-exact to each of 20 clients at once', async () => {
    const { server } = startServer(create());
    const echoes = Array.from({ length: 20 }, async () => {
      const client = await openClient(server.port);
      const data = randomLines(256 * 1024);
      await client.sendAll(data);
      await client.shutdownWrite();
      expect((await client.recvUntilClosed()).equals(data)).toBe(true);
    });
    await Promise.all(echoes);
    expect(server.errors).toEqual([]);
    expect(server.serverErrors).toEqual([]);
  });

  it("reports a handler's error to the server's handleError with the client's address; the worker goes on", async () => {
    const { server } = startServer(create());
    const failing = await openClient(server.port);
    const worker = await whoami(failing);
    await failing.sendAll('!throw\n');
    await failing.waitForClose();
    const [reported] = await server.waitForErrors(1);
    expect(reported?.clientAddress).toEqual({ host: '127.0.0.1', port: failing.localPort, family: 'IPv4' });
    expect(reported?.error).toBeInstanceOf(Error);
    expect(reported?.error).toMatchObject({ name: 'RangeError', message: 'thrown by the handler' });
    await server.waitForRequestEnd(failing.localPort);

    const next = await openClient(server.port);
    const nextWorker = await whoami(next);
    // A forked child serves one connection; threads and pool workers serve the next one too.
    if (server.strategy.name === 'forking') expect(server.exitedWorkerIds).toContain(pidOf(worker));
    else expect(nextWorker).toBe(worker);
    expect(server.serverErrors).toEqual([]);
  });

  it("holds the handler's maxLineLength in the worker", async () => {
    const { server } = startServer(create(), { handlerOptions: { maxLineLength: 16 } });
    const client = await openClient(server.port);
    await client.sendAll('short\n');
    expect((await client.readline()).toString()).toBe('short\n');
    await client.sendAll(`${'x'.repeat(100)}\n`);
    await client.waitForClose();
    const [reported] = await server.waitForErrors(1);
    expect(reported?.error).toMatchObject({ code: 'ERR_LINE_TOO_LONG' });
    expect(reported?.clientAddress).toMatchObject({ port: client.localPort });
  });

  it("holds the server's idleTimeoutMs in the worker", async () => {
    const { server } = startServer(create(), { idleTimeoutMs: 300 });
    const client = await openClient(server.port);
    await client.sendAll('hi\n');
    expect((await client.readline()).toString()).toBe('hi\n');
    await client.waitForClose();
    const [reported] = await server.waitForErrors(1);
    expect(reported?.error).toMatchObject({ code: 'ERR_IDLE_TIMEOUT' });
    expect(reported?.clientAddress).toMatchObject({ port: client.localPort });
  });

  it('runs verifyRequest in the main thread, and a refused connection reaches no worker', async () => {
    const verified: { port: number; isMainThread: boolean }[] = [];
    class RefusingServer extends RecordingServer {
      override verifyRequest(_request: Socket, clientAddress: ClientAddress): boolean {
        verified.push({ port: clientAddress.family === 'Unix' ? 0 : clientAddress.port, isMainThread });
        return false;
      }
    }
    const server = new RefusingServer(create());
    const serving = server.serveForever();
    serving.catch(() => {});
    const client = await openClient(server.port);
    await client.sendAll('anyone there?\n');
    expect((await client.recvUntilClosed()).length).toBe(0);
    expect(verified).toEqual([{ port: client.localPort, isMainThread: true }]);
    await server.serverClose();
    await serving;
    expect(server.errors).toEqual([]);
  });

  it('shutdown lets a running request finish, then stops every worker', async () => {
    const { server, serving } = startServer(create());
    const client = await openClient(server.port);
    await whoami(client);
    const stopping = server.shutdown();
    await client.sendAll('last words\n');
    expect((await client.readline()).toString()).toBe('last words\n');
    await client.close();
    await stopping;
    await serving;
    expect(server.strategy.workerCount).toBe(0);
    expect(server.errors).toEqual([]);
  });

  it('leaves no worker thread or process behind after serverClose, even with clients connected', async () => {
    const { server, serving } = startServer(create());
    const clients = [await openClient(server.port), await openClient(server.port)];
    const workers = await Promise.all(clients.map(whoami));
    await server.serverClose();
    await serving;
    expect(server.strategy.workerCount).toBe(0);
    expect(server.exitedWorkerIds.toSorted()).toEqual(server.startedWorkerIds.toSorted());
    if (server.strategy.kind === 'process') {
      expect(server.startedWorkerIds.filter(isProcessAlive)).toEqual([]);
      expect(workers.map(pidOf).filter(isProcessAlive)).toEqual([]);
    }
    await Promise.all(clients.map((client) => client.waitForClose()));
  });

  it('rejects serveForever with ERR_HANDLER_NOT_LOCATABLE for a class without moduleURL, starting no worker', async () => {
    const { server, serving } = startServer(create(), {}, UnlocatableHandler);
    await expect(serving).rejects.toMatchObject({ code: 'ERR_HANDLER_NOT_LOCATABLE' });
    expect(server.startedWorkerIds).toEqual([]);
  });

  it('rejects serveForever with ERR_HANDLER_LOAD_FAILED when the module lacks the export, leaving no worker', async () => {
    const { server, serving } = startServer(create(), {}, MissingExportHandler);
    await expect(serving).rejects.toMatchObject({
      code: 'ERR_HANDLER_LOAD_FAILED',
      message: expect.stringContaining('NoSuchHandler') as unknown,
    });
    expect(server.startedWorkerIds.length).toBeGreaterThan(0);
    expect(server.strategy.workerCount).toBe(0);
    expect(server.exitedWorkerIds.toSorted()).toEqual(server.startedWorkerIds.toSorted());
    if (server.strategy.kind === 'process')
      expect(server.startedWorkerIds.filter(isProcessAlive)).toEqual([]);
  });
});
