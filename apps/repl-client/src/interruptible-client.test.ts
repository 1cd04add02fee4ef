import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { inspect } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { InterruptibleClient } from './interruptible-client.js';
import { PendingOperations } from './pending-operations.js';
import {
  startRawServer,
  startUnixStreamEchoServer,
  temporaryDirectory,
  type RawServer,
} from './test-support/servers.js';

/** A connection to `server` with its own PendingOperations; closed when the test ends. */
async function connectTo(
  server: RawServer,
  cancelCheckIntervalMs?: number,
): Promise<{ client: InterruptibleClient; operations: PendingOperations }> {
  const operations = new PendingOperations();
  const client = await InterruptibleClient.connect(
    '127.0.0.1',
    server.port,
    operations,
    cancelCheckIntervalMs === undefined ? {} : { cancelCheckIntervalMs },
  );
  onTestFinished(() => client.close());
  return { client, operations };
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('InterruptibleClient', () => {
  it('cancels a waiting recv with ERR_ABORTED; the connection stays usable and loses nothing', async () => {
    await using server = await startRawServer();
    const { client, operations } = await connectTo(server);
    const serverSide = await server.firstConnection();

    const waiting = client.recv(10);
    expect(operations.size).toBe(1);
    const startedAt = performance.now();
    expect(operations.cancelAll(new Error('Ctrl-C'))).toBe(1);
    const error = await rejection(waiting);
    expect(error).toMatchObject({
      code: 'ERR_ABORTED',
      message: `recv() on 127.0.0.1:${server.port} was aborted`,
    });
    expect(performance.now() - startedAt).toBeLessThan(1000);
    expect(operations.size).toBe(0);

    serverSide.write('after the cancel\n');
    expect(String(await client.readline())).toBe('after the cancel\n');
    const received = once(serverSide, 'data', { signal: AbortSignal.timeout(5000) });
    expect(await client.send('still open\n')).toBe(11);
    expect(String(await received)).toBe('still open\n');
  });

  it('cancels a waiting connect with ERR_ABORTED', async () => {
    await using server = await startRawServer();
    const operations = new PendingOperations();
    const connecting = InterruptibleClient.connect('127.0.0.1', server.port, operations);
    operations.cancelAll(new Error('Ctrl-C'));
    expect(await rejection(connecting)).toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('keeps the whole timeoutMs across its short underlying reads, then fails with ERR_TIMEOUT', async () => {
    await using server = await startRawServer();
    const { client } = await connectTo(server, 20);
    const startedAt = performance.now();
    const error = await rejection(client.recv(10, { timeoutMs: 250 }));
    expect(error).toMatchObject({
      code: 'ERR_TIMEOUT',
      message: `recv() on 127.0.0.1:${server.port} timed out after 250 ms`,
    });
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(245);
  });

  it('delivers every byte exactly when data arrives across many underlying reads', async () => {
    await using server = await startRawServer();
    const { client } = await connectTo(server, 1);
    const serverSide = await server.firstConnection();
    const chunks = Array.from({ length: 50 }, (_, index) => Buffer.alloc(1000, index));
    const reading = client.recvExactly(50_000);
    for (const chunk of chunks) {
      serverSide.write(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await reading).equals(Buffer.concat(chunks))).toBe(true);
  });

  it("passes the client's errors through: one read at a time, line length, closed connections", async () => {
    await using server = await startRawServer();
    const { client } = await connectTo(server);
    const serverSide = await server.firstConnection();

    const first = client.recv(10);
    expect(await rejection(client.readline())).toMatchObject({ code: 'ERR_READ_IN_PROGRESS' });
    serverSide.write('abcdefgh\n');
    expect(String(await first)).toBe('abcdefgh\n');

    serverSide.write('too long\n');
    expect(await rejection(client.readline({ maxLineLength: 3 }))).toMatchObject({
      code: 'ERR_LINE_TOO_LONG',
    });
    expect(await rejection(client.recv(10, { timeoutMs: 0 }))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });

    serverSide.end();
    expect(String(await client.recvUntilClosed())).toBe('too long\n');
    await client.waitForClose();
    expect(inspect(client)).toMatch(
      new RegExp(`^<connection to 127\\.0\\.0\\.1:${server.port} from 127\\.0\\.0\\.1:\\d+, open>$`),
    );
    await client.close();
    expect(client.isClosed).toBe(true);
    expect(String(client)).toMatch(/, closed$/);
    expect(await rejection(client.recv(1))).toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
  });

  it('connects to a Unix stream socket with connectUnix, named by its path, and cancels its reads', async () => {
    await using server = await startUnixStreamEchoServer();
    const operations = new PendingOperations();
    const client = await InterruptibleClient.connectUnix(server.path, operations);
    onTestFinished(() => client.close());
    expect(client.isUnixDomain).toBe(true);
    expect(client.peer).toBe(server.path);
    expect(client.localEndpoint).toBe('');
    expect(inspect(client)).toBe(`<connection to ${server.path}, open>`);

    expect(await client.send('Hello\n')).toBe(6);
    expect(String(await client.readline())).toBe('Hello\n');

    const waiting = client.recv(10);
    operations.cancelAll(new Error('Ctrl-C'));
    expect(await rejection(waiting)).toMatchObject({
      code: 'ERR_ABORTED',
      message: `recv() on ${server.path} was aborted`,
    });
    await client.close();
    expect(String(client)).toBe(`${server.path}, closed`);
  });

  it('cancels a waiting connectUnix with ERR_ABORTED, and names a missing socket by its path', async () => {
    await using server = await startUnixStreamEchoServer();
    const operations = new PendingOperations();
    const connecting = InterruptibleClient.connectUnix(server.path, operations);
    operations.cancelAll(new Error('Ctrl-C'));
    expect(await rejection(connecting)).toMatchObject({ code: 'ERR_ABORTED' });

    await using directory = await temporaryDirectory();
    const missing = `${directory.path}/missing.sock`;
    expect(await rejection(InterruptibleClient.connectUnix(missing, operations))).toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `Connection refused by ${missing}: no such file`,
    });
  });

  it.runIf(process.platform === 'linux')('shows an abstract name as @name', async () => {
    const name = `repl-client-test-${randomUUID()}`;
    await using _server = await startUnixStreamEchoServer(`\0${name}`);
    const client = await InterruptibleClient.connectUnix(`\0${name}`, new PendingOperations());
    onTestFinished(() => client.close());
    expect(String(client)).toBe(`@${name}, open`);
  });
});
