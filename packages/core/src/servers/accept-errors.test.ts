import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { connect } from '@socketserver/client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { RecordingServer } from '../test-support/recording-server.js';
import { EchoHandler } from '../test-support/test-handlers.js';

/** A RecordingServer that also records `handleServerError`. */
class ServerErrorRecorder extends RecordingServer {
  readonly serverErrors: unknown[] = [];
  readonly serverErrorEvents = new EventEmitter();

  override handleServerError(error: unknown): void {
    this.serverErrors.push(error);
    this.serverErrorEvents.emit('server-error');
  }

  /** Resolves once `count` server errors were reported; rejects after `timeoutMs`. */
  async waitForServerErrors(count: number, timeoutMs = 5_000): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (this.serverErrors.length < count) await once(this.serverErrorEvents, 'server-error', { signal });
  }
}

/** A failed accept as libuv reports it through net.Server's 'error'. */
function acceptError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`accept ${code}`), { code, errno: -105, syscall: 'accept' });
}

/** Start a server whose listening net.Server is captured, to inject errors on it. */
async function serverWithListener(): Promise<{
  server: ServerErrorRecorder;
  listener: net.Server;
  serving: Promise<unknown>;
}> {
  const created: net.Server[] = [];
  const createServer = net.createServer.bind(net);
  const spy = vi
    .spyOn(net, 'createServer')
    .mockImplementation((...args: Parameters<typeof net.createServer>) => {
      const listener = createServer(...args);
      created.push(listener);
      return listener;
    });
  let server: ServerErrorRecorder;
  try {
    server = new ServerErrorRecorder(['127.0.0.1', 0], EchoHandler);
  } finally {
    spy.mockRestore();
  }
  onTestFinished(() => server.serverClose());
  // What serveForever() ends with: undefined, or the error it rejected with.
  const serving = server.serveForever().then(
    () => undefined,
    (error: unknown) => error,
  );
  await server.listening;
  expect(created).toHaveLength(1);
  return { server, listener: created[0] as net.Server, serving };
}

async function expectServed(port: number, line: string): Promise<void> {
  await using client = await connect('127.0.0.1', port);
  await client.sendAll(`${line}\n`);
  expect((await client.readline()).toString()).toBe(`${line}\n`);
}

describe('a failed accept on the listening socket', () => {
  it('loses that connection only: the server listens on, counts it, and reports it once', async () => {
    const { server, listener } = await serverWithListener();
    listener.emit('error', acceptError('ENOBUFS'));
    await server.waitForServerErrors(1);
    expect(server.serverErrors[0]).toMatchObject({
      code: 'ERR_ACCEPT_FAILED',
      message: expect.stringContaining('ENOBUFS') as unknown,
    });
    expect(server.stats().acceptErrors).toBe(1);
    await expectServed(server.port, 'still listening');
  });

  it('reports a burst once at once, then once for the rest, never closing the server', async () => {
    const { server, listener } = await serverWithListener();
    for (let index = 0; index < 50; index += 1) listener.emit('error', acceptError('ENOMEM'));
    expect(server.serverErrors).toHaveLength(1);
    expect(server.stats().acceptErrors).toBe(50);
    await expectServed(server.port, 'during the burst');
    // The rest of the burst, in one line about a second later.
    await server.waitForServerErrors(2, 5_000);
    expect(server.serverErrors[1]).toMatchObject({
      code: 'ERR_ACCEPT_FAILED',
      message: expect.stringContaining('49 more connection(s)') as unknown,
    });
    expect(server.serverErrors).toHaveLength(2);
    await expectServed(server.port, 'after the burst');
  });

  it('still closes the server for a failure of the listening socket that is not an accept', async () => {
    const { server, listener, serving } = await serverWithListener();
    listener.emit('error', Object.assign(new Error('listen EINVAL'), { code: 'EINVAL', syscall: 'listen' }));
    expect(await serving).toMatchObject({ code: 'EINVAL' });
    expect(server.stats().acceptErrors).toBe(0);
  });
});
