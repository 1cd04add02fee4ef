import { describe, expect, it } from 'vitest';
import { ClientError } from './client-error.js';
import { connect } from './connect.js';
import { connectPair, echo, listen } from './test-support/loopback-server.js';

describe('connect', () => {
  it('reports both ends of the connection', async () => {
    const server = await listen();
    const { client, peer } = await connectPair(server);
    expect(client).toMatchObject({
      localAddress: '127.0.0.1',
      localPort: peer.remotePort,
      remoteAddress: '127.0.0.1',
      remotePort: server.port,
    });
  });

  it('connects over IPv6 to ::1, naming the server [::1]:port in messages', async () => {
    const server = await listen(echo, '::1');
    const { client, peer } = await connectPair(server, { family: 6 });
    expect(client).toMatchObject({ localAddress: '::1', localPort: peer.remotePort, remoteAddress: '::1' });
    expect(await client.send('Hello\n')).toBe(6);
    expect((await client.recv(8192)).toString()).toBe('Hello\n');
    await expect(client.recv(1, { timeoutMs: 20 })).rejects.toMatchObject({
      message: `recv() on [::1]:${server.port} timed out after 20 ms`,
    });
  });

  it("family: 4 resolves 'localhost' to 127.0.0.1", async () => {
    const { port } = await listen();
    await using client = await connect('localhost', port, { family: 4 });
    expect(client.remoteAddress).toBe('127.0.0.1');
  });

  it('a port nobody listens on: ERR_CONNECTION_REFUSED naming host:port, the system error as cause', async () => {
    const { server, port } = await listen();
    await new Promise((resolve) => server.close(resolve));
    const error = await connect('127.0.0.1', port).catch((error: unknown) => error);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `Connection refused by 127.0.0.1:${port}`,
      cause: { code: 'ECONNREFUSED' },
    });
  });

  it('an aborted signal fails with ERR_ABORTED, before or during the attempt, with the reason as cause', async () => {
    const { port } = await listen();
    const reason = new Error('test over');
    await expect(connect('127.0.0.1', port, { signal: AbortSignal.abort(reason) })).rejects.toMatchObject({
      code: 'ERR_ABORTED',
      cause: reason,
    });
    const controller = new AbortController();
    const attempt = connect('127.0.0.1', port, { signal: controller.signal });
    controller.abort(reason);
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_ABORTED', cause: reason });
  });

  it('rejects a bad port or timeout with ERR_INVALID_ARGUMENT, never throwing synchronously', async () => {
    for (const [port, timeoutMs] of [
      [0, 1000],
      [65_536, 1000],
      [1.5, 1000],
      [1, 0],
      [1, -5],
    ] as const) {
      await expect(connect('127.0.0.1', port, { timeoutMs })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
  });
});
