import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { TCPServer } from '@socketserver/core';
import { ServerProcess } from '@socketserver/client/server-process';
import {
  ForkingTCPServer,
  ThreadingTCPServer,
  WorkerPoolTCPServer,
  type WorkerPool,
} from '@socketserver/concurrency';
import { CommandEchoHandler } from './test-support/command-echo-handler.js';
import { openClient, whoami } from './test-support/test-clients.js';

describe.each([
  { Server: ThreadingTCPServer, options: { maxThreads: 2 }, name: 'threading' },
  { Server: ForkingTCPServer, options: { maxChildren: 2 }, name: 'forking' },
  { Server: WorkerPoolTCPServer, options: { workers: 2, kind: 'process' as const }, name: 'process-pool' },
])('$Server.name', ({ Server, options, name }) => {
  it(`is a TCPServer on the ${name} strategy, serving the same handler class`, async () => {
    const server = new Server(['127.0.0.1', 0], CommandEchoHandler, { ...options, idleTimeoutMs: 5_000 });
    onTestFinished(() => server.serverClose());
    const serving = server.serveForever();
    expect(server).toBeInstanceOf(TCPServer);
    const strategy: WorkerPool = server.strategy;
    expect(strategy.name).toBe(name);
    expect(strategy.maxConcurrentRequests).toBe(2);
    expect(server.idleTimeoutMs).toBe(5_000);
    const client = await openClient(server.port);
    const [pid] = (await whoami(client)).split(' ');
    expect(Number(pid) === process.pid).toBe(strategy.kind === 'thread');
    await client.close();
    await server.shutdown();
    await serving;
    expect(strategy.workerCount).toBe(0);
  });
});

describe('in a process of its own', () => {
  it('a forked child exits when its parent dies, and its connection closes', async () => {
    const script = fileURLToPath(new URL('./test-support/serve-forking.ts', import.meta.url));
    await using server = ServerProcess.start(process.execPath, [script]);
    const port = Number((await server.waitForLine(/^listening \d+$/)).split(' ')[1]);
    const client = await openClient(port);
    const child = Number((await whoami(client)).split(' ')[0]);
    expect(child).not.toBe(server.child.pid);
    server.kill('SIGKILL');
    await server.waitForExit();
    // Only the child still holds the connection (the parent closed its copy on handing it over).
    await client.waitForClose();
    expect(server.stderr).toBe('');
  });

  it('serves with every server class and writes nothing to stderr', async () => {
    const script = fileURLToPath(new URL('./test-support/serve-once.ts', import.meta.url));
    await using server = ServerProcess.start(process.execPath, [script]);
    const exit = await server.waitForExit({ timeoutMs: 20_000 });
    expect(server.stderr).toBe('');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.stdoutLines).toEqual([
      'ThreadingTCPServer threading hello 0',
      'ForkingTCPServer forking hello 0',
      'WorkerPoolTCPServer thread-pool hello 0',
      'WorkerPoolTCPServer process-pool hello 0',
    ]);
  });
});
