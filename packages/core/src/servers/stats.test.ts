import { once } from 'node:events';
import { createSocket } from 'node:dgram';
import { connect } from '@socketserver/client';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ClientAddress } from '../support/client-address.js';
import type { DatagramRequest } from './datagram-socket.js';
import { eventLoopStrategy } from '../strategy/event-loop-strategy.js';
import { deferred, RecordingServer, startServer } from '../test-support/recording-server.js';
import { EchoHandler, SocketHandler } from '../test-support/test-handlers.js';
import type { StreamServer } from './stream-server.js';
import { UDPServer } from './udp-server.js';

describe('stats() of a stream server', () => {
  it('counts connections accepted, refused (verifyRequest, maxConnections), bytes and handler errors', async () => {
    let isRefusing = false;
    class Refusing extends RecordingServer {
      override verifyRequest(): boolean {
        return !isRefusing;
      }
    }
    const server = new Refusing(['127.0.0.1', 0], EchoHandler, {
      strategy: eventLoopStrategy(),
      maxConnections: 2,
    });
    onTestFinished(() => server.serverClose());
    void server.serveForever().catch(() => {});
    expect(server.stats()).toEqual({
      accepted: 0,
      active: 0,
      waiting: 0,
      refused: { verifyRequest: 0, maxConnections: 0, requestQueueSize: 0, proxyProtocol: 0, handshakes: 0 },
      bytesIn: 0,
      bytesOut: 0,
      handlerErrors: 0,
      acceptErrors: 0,
      truncatedDatagrams: 0,
      workerRestarts: 0,
      draining: false,
    });

    const first = await connect('127.0.0.1', server.port);
    await first.sendAll('12345\n');
    expect((await first.readline()).toString()).toBe('12345\n');
    const second = await connect('127.0.0.1', server.port);
    await second.sendAll('x\n');
    await second.readline();
    expect(server.stats()).toMatchObject({ accepted: 2, active: 2 });

    const third = await connect('127.0.0.1', server.port); // beyond maxConnections: dropped
    await third.recvUntilClosed();
    await first.close();
    await second.close();
    await until(server, () => server.connectionCount === 0);

    isRefusing = true;
    const refused = await connect('127.0.0.1', server.port);
    await refused.recvUntilClosed(); // verifyRequest said no: closed without a handler
    expect(server.stats()).toMatchObject({
      accepted: 4,
      active: 0,
      refused: { verifyRequest: 1, maxConnections: 1, requestQueueSize: 0, proxyProtocol: 0, handshakes: 0 },
      bytesIn: 8,
      bytesOut: 8,
    });
  });

  it('counts failures reported to handleError, and says when a drain is under way', async () => {
    const release = deferred<void>();
    class Holding extends SocketHandler {
      override async handle(): Promise<void> {
        const [chunk] = (await once(this.request.resume(), 'data')) as [Buffer];
        if (chunk.toString().startsWith('fail')) throw new Error('failing on purpose');
        await release.promise;
      }
    }
    const { server } = startServer(Holding, { strategy: eventLoopStrategy() });
    const failing = await connect('127.0.0.1', server.port);
    await failing.sendAll('fail\n');
    await server.waitForErrors(1);
    expect(server.stats().handlerErrors).toBe(1);

    const held = await connect('127.0.0.1', server.port);
    await held.sendAll('hold\n');
    await until(server, () => server.stats().active === 1);
    const stopping = server.shutdown();
    expect(server.stats().draining).toBe(true);
    release.resolve();
    await stopping;
    expect(server.stats().draining).toBe(false);
    await held.close();
    await failing.close();
  });
});

describe('stats() of a datagram server', () => {
  it('counts datagrams received and refused, and the bytes of each way', async () => {
    class Echo {
      constructor(
        readonly request: DatagramRequest,
        readonly clientAddress: ClientAddress,
      ) {}
      setup(): void {}
      async handle(): Promise<void> {
        const [data, socket] = this.request;
        await socket.sendTo(data.subarray(0, 2), this.clientAddress);
      }
      finish(): void {}
    }
    const server = new UDPServer(['127.0.0.1', 0], Echo, { strategy: eventLoopStrategy() });
    onTestFinished(() => server.serverClose());
    await server.listening;
    void server.serveForever().catch(() => {});
    const client = createSocket('udp4');
    onTestFinished(() => void client.close());
    client.bind(0, '127.0.0.1');
    await once(client, 'listening');
    for (const text of ['hello', 'world!']) {
      client.send(text, server.port, '127.0.0.1');
      await once(client, 'message', { signal: AbortSignal.timeout(5000) });
    }
    expect(server.stats()).toMatchObject({ accepted: 2, active: 0, waiting: 0, bytesIn: 11, bytesOut: 4 });
  });
});

/** Resolves once `isDone()` holds, checked at each connection's change of state; bounded. */
async function until(server: StreamServer<readonly [string, number]>, isDone: () => boolean): Promise<void> {
  const signal = AbortSignal.timeout(5000);
  while (!isDone()) await once(server, 'connectionState', { signal });
}
