// The key-value server of docs/guide.md, tested as the guide tests it: a KVServer on a free loopback
// port, clients from @socketserver/client; then the example files run as a user runs them.
import { EventEmitter, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { connect } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { pool } from '@socketserver/concurrency';
import { eventLoopStrategy, type TCPServerOptions } from '@socketserver/core';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { KVHandler } from './kv-handler.ts';
import { KVServer } from './kv-server.ts';

/** A KVServer on 127.0.0.1 and a free port, on the event loop unless told; closed when the test ends. */
async function startServer(options: TCPServerOptions = {}): Promise<KVServer> {
  const server = new KVServer(['127.0.0.1', 0], KVHandler, { strategy: eventLoopStrategy(), ...options });
  const serving = server.serveForever();
  onTestFinished(async () => {
    await server.serverClose();
    await serving;
  });
  await server.listening;
  return server;
}

/** What the test prints to `stream` (stdout's console.log, or stderr), captured; `waitFor` one line. */
function capture(stream: 'stdout' | 'stderr'): { lines: string[]; waitFor(line: string): Promise<void> } {
  const lines: string[] = [];
  const printed = new EventEmitter();
  const record = (text: string): void => {
    lines.push(...text.split('\n').filter((line) => line !== ''));
    printed.emit('line');
  };
  const spy =
    stream === 'stdout'
      ? vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => record(args.join(' ')))
      : vi.spyOn(process.stderr, 'write').mockImplementation((text: string | Uint8Array) => {
          record(String(text));
          return true;
        });
  onTestFinished(() => spy.mockRestore());
  return {
    lines,
    async waitFor(line) {
      const signal = AbortSignal.timeout(5_000);
      while (!lines.includes(line)) await once(printed, 'line', { signal });
    },
  };
}

describe('KVServer with KVHandler (examples/kv-server.ts, kv-handler.ts)', () => {
  it('answers GET, SET and QUIT, one line each, then closes', async () => {
    const server = await startServer();
    await using s = await connect('127.0.0.1', server.port);
    await s.send('SET greeting hello world\n');
    expect((await s.readline()).toString()).toBe('OK\n');
    await s.send('GET greeting\n');
    expect((await s.readline()).toString()).toBe('VALUE hello world\n');
    // Pipelined: the replies come back in order.
    await s.sendAll('GET nobody\nDEL greeting\nGET\nQUIT\nGET greeting\n');
    expect((await s.readline()).toString()).toBe('NOT_FOUND\n');
    expect((await s.readline()).toString()).toBe('ERR unknown command\n');
    expect((await s.readline()).toString()).toBe('ERR usage: GET key\n');
    expect((await s.readline()).toString()).toBe('BYE\n');
    expect(await s.recvUntilClosed()).toHaveLength(0); // nothing after BYE: the server closed
  });

  it('a value over maxValueLength reaches handleError and ends that connection, not the server', async () => {
    const stdout = capture('stdout');
    const server = await startServer({ handlerOptions: { maxValueLength: 8 } });
    await using s = await connect('127.0.0.1', server.port);
    await s.send('SET color 123456789\n');
    expect((await s.readline()).toString()).toBe('ERR value too long\n');
    expect(await s.recvUntilClosed()).toHaveLength(0);
    await stdout.waitFor(`Closed ('127.0.0.1', ${s.localPort}): ERR_VALUE_TOO_LONG`);

    await using t = await connect('127.0.0.1', server.port);
    await t.send('SET color 12345678\n');
    expect((await t.readline()).toString()).toBe('OK\n');
  });

  it('any other error keeps the default handleError line, on stderr', async () => {
    const stderr = capture('stderr');
    const server = await startServer({ handlerOptions: { maxValueLength: 'big' } });
    await using s = await connect('127.0.0.1', server.port);
    await s.waitForClose();
    await stderr.waitFor(
      `Error handling request from ('127.0.0.1', ${s.localPort}): ` +
        'ERR_INVALID_OPTION: invalid maxValueLength: big (expected an integer >= 1)',
    );
  });

  it('a line over maxLineLength ends the connection without a reply', async () => {
    const stdout = capture('stdout');
    const server = await startServer({ handlerOptions: { maxLineLength: 16 } });
    await using s = await connect('127.0.0.1', server.port);
    await s.send(`SET note ${'x'.repeat(20)}\n`);
    expect(await s.recvUntilClosed()).toHaveLength(0);
    await stdout.waitFor(`Closed ('127.0.0.1', ${s.localPort}): ERR_LINE_TOO_LONG`);
  });

  it('idleTimeoutMs closes a client that stays silent', async () => {
    const stdout = capture('stdout');
    const server = await startServer({ idleTimeoutMs: 200 });
    await using s = await connect('127.0.0.1', server.port);
    await s.send('SET idle yes\n');
    expect((await s.readline()).toString()).toBe('OK\n');
    const silentFrom = Date.now();
    expect(await s.readline({ timeoutMs: 5_000 })).toHaveLength(0); // EOF: the server closed
    expect(Date.now() - silentFrom).toBeGreaterThanOrEqual(150);
    await stdout.waitFor(`Closed ('127.0.0.1', ${s.localPort}): ERR_IDLE_TIMEOUT`);
  });
});

describe('where the store lives', () => {
  it('on the event loop, one store: a SET on one connection is seen on another', async () => {
    const server = await startServer();
    await using a = await connect('127.0.0.1', server.port);
    await using b = await connect('127.0.0.1', server.port);
    await a.send('SET shared red\n');
    expect((await a.readline()).toString()).toBe('OK\n');
    await b.send('GET shared\n');
    expect((await b.readline()).toString()).toBe('VALUE red\n');
  });

  it('in a pool of 2 one-connection workers, each worker has its own store', async () => {
    const server = await startServer({
      strategy: pool({ workers: 2, requestsPerWorker: 1, accept: 'main' }),
    });
    await using a = await connect('127.0.0.1', server.port);
    await a.send('SET color red\n');
    expect((await a.readline()).toString()).toBe('OK\n'); // a is served: it holds one worker
    await using b = await connect('127.0.0.1', server.port);
    await b.send('GET color\n');
    expect((await b.readline()).toString()).toBe('NOT_FOUND\n'); // b is on the other worker
    await b.send('SET color blue\n');
    expect((await b.readline()).toString()).toBe('OK\n');
    await a.send('GET color\n');
    expect((await a.readline()).toString()).toBe('VALUE red\n');
  });
});

const runningLine = /^KV server running on port (\d+)/;

/** Run an example as a user does (`node examples/<file> ...args`); stopped when the test ends. */
async function runExample(file: string, args: string[]): Promise<{ server: ServerProcess; port: number }> {
  const server = ServerProcess.start(process.execPath, [
    fileURLToPath(new URL(file, import.meta.url)),
    ...args,
  ]);
  onTestFinished(() => server[Symbol.asyncDispose]());
  const [, port] = runningLine.exec(await server.waitForLine(runningLine)) ?? [];
  return { server, port: Number(port) };
}

describe('examples/kv-server.ts, run as a user runs it', () => {
  it('serves a session, reports a value too long, and stops on SIGINT with status 0', async () => {
    const { server, port } = await runExample('kv-server.ts', ['0']);
    await using s = await connect('127.0.0.1', port);
    await s.sendAll(`SET k v\nGET k\nSET k ${'v'.repeat(65)}\n`);
    expect((await s.recvUntilClosed()).toString()).toBe('OK\nVALUE v\nERR value too long\n');
    await server.waitForLine(`Closed ('127.0.0.1', ${s.localPort}): ERR_VALUE_TOO_LONG`);
    server.kill('SIGINT');
    expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
    expect(server.stdoutLines.at(-1)).toBe('KV server stopped');
    expect(server.stderr).toBe('');
  });
});

describe.each(['thread', 'pool', 'process-pool', 'fork'])('examples/kv-workers.ts %s', (strategy) => {
  it('serves the same protocol in workers and stops on SIGTERM with status 0', async () => {
    const { server, port } = await runExample('kv-workers.ts', [strategy, '0']);
    await using s = await connect('127.0.0.1', port);
    await s.sendAll('SET k v\nGET k\nQUIT\n');
    expect((await s.recvUntilClosed()).toString()).toBe('OK\nVALUE v\nBYE\n');
    server.kill('SIGTERM');
    expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
    expect(server.stdoutLines).toEqual([
      `KV server running on port ${port} (${strategy}: one store per worker)`,
      'KV server stopped',
    ]);
    expect(server.stderr).toBe('');
  });
});

describe('examples/kv-workers.ts with an unknown strategy', () => {
  it('prints its usage and exits 2', async () => {
    const server = ServerProcess.start(process.execPath, [
      fileURLToPath(new URL('kv-workers.ts', import.meta.url)),
      'cluster',
    ]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    expect(await server.waitForExit()).toEqual({ code: 2, signal: null });
    expect(server.stderr).toBe('usage: node examples/kv-workers.ts [thread|pool|process-pool|fork] [port]\n');
  });
});
