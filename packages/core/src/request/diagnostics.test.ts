// What core publishes on node:diagnostics_channel: connections accepted and refused, and a
// TracingChannel around each request's handler.
import dgram from 'node:dgram';
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ClientAddress } from '../support/client-address.js';
import type { ConnectionAcceptedMessage, ConnectionRefusedMessage, RequestMessage } from './diagnostics.js';
import { eventLoopStrategy } from '../strategy/event-loop-strategy.js';
import { serialStrategy } from '../strategy/serial-strategy.js';
import { startServer, type RecordingServer } from '../test-support/recording-server.js';
import { DatagramEchoHandler } from '../test-support/socket-helpers.js';
import { EchoHandler, SocketHandler } from '../test-support/test-handlers.js';
import { UDPServer } from '../servers/udp-server.js';

const waitMs = 5_000;

/** Messages published on the channel `name` while the test runs. */
function record<Message>(name: string): Message[] {
  const seen: Message[] = [];
  const onMessage = (message: unknown): void => void seen.push(message as Message);
  diagnosticsChannel.subscribe(name, onMessage);
  onTestFinished(() => void diagnosticsChannel.unsubscribe(name, onMessage));
  return seen;
}

/** Every event of `recordRequests`, as it comes. */
const requestEvents = new EventEmitter();

/** The events of the `socketserver:request` TracingChannel while the test runs, in order. */
function recordRequests(): { event: string; message: RequestMessage }[] {
  const seen: { event: string; message: RequestMessage }[] = [];
  const on =
    (event: string) =>
    (message: unknown): void => {
      seen.push({ event, message: { ...(message as RequestMessage) } });
      requestEvents.emit('event');
    };
  const handlers = {
    start: on('start'),
    end: on('end'),
    asyncStart: on('asyncStart'),
    asyncEnd: on('asyncEnd'),
    error: on('error'),
  };
  const channel = diagnosticsChannel.tracingChannel('socketserver:request');
  channel.subscribe(handlers);
  onTestFinished(() => void channel.unsubscribe(handlers));
  return seen;
}

/** Connect, send `line`, and resolve with what came back before the server closed. */
async function exchange(port: number, line: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'connect', { signal: AbortSignal.timeout(waitMs) });
  socket.end(line);
  await once(socket, 'close', { signal: AbortSignal.timeout(waitMs) });
  return Buffer.concat(chunks).toString();
}

/** Resolves once `server` has forgotten `count` connections. */
async function closed(server: RecordingServer, count: number): Promise<void> {
  const signal = AbortSignal.timeout(waitMs);
  for (let seen = 0; seen < count;) {
    const [{ state }] = (await once(server, 'connectionState', { signal })) as [{ state: string }];
    if (state === 'closed') seen += 1;
  }
}

class ThrowingHandler extends SocketHandler {
  override handle(): void {
    throw new RangeError('thrown by the handler');
  }
}

describe('socketserver:connection:accepted and :refused', () => {
  it('publish each accepted connection with its server, peer and socket', async () => {
    const accepted = record<ConnectionAcceptedMessage>('socketserver:connection:accepted');
    const { server } = startServer(EchoHandler);
    await server.listening;
    const ending = closed(server, 1);
    expect(await exchange(server.port, 'Hello\n')).toBe('Hello\n');
    await ending;
    const ours = accepted.filter((message) => message.server === server);
    expect(ours).toHaveLength(1);
    expect(ours[0]?.clientAddress).toMatchObject({ host: '127.0.0.1', family: 'IPv4' });
    expect(ours[0]?.socket).toBeInstanceOf(net.Socket);
  });

  it('publish a refusal with its reason: a cap, or verifyRequest', async () => {
    const refused = record<ConnectionRefusedMessage>('socketserver:connection:refused');
    const { server } = startServer(EchoHandler, { maxConnections: 1 });
    await server.listening;
    const holder = net.connect(server.port, '127.0.0.1');
    onTestFinished(() => void holder.destroy());
    await once(server, 'connectionState', { signal: AbortSignal.timeout(waitMs) });
    const dropped = once(server, 'drop', { signal: AbortSignal.timeout(waitMs) });
    await exchange(server.port, 'beyond\n');
    await dropped;
    const holderClosed = closed(server, 1);
    holder.destroy();
    await holderClosed;

    server.verifyRequest = (_request, clientAddress: ClientAddress) =>
      clientAddress.family !== 'IPv4' || clientAddress.host !== '127.0.0.1';
    const ending = closed(server, 1);
    expect(await exchange(server.port, 'refused\n')).toBe('');
    await ending;
    expect(refused.filter((message) => message.server === server).map(({ reason }) => reason)).toEqual([
      'maxConnections',
      'verifyRequest',
    ]);
  });
});

describe('socketserver:request', () => {
  it.each([
    ['eventLoopStrategy()', eventLoopStrategy],
    ['serialStrategy()', serialStrategy],
  ])('traces a request around its handler, with %s', async (_name, strategy) => {
    const events = recordRequests();
    const { server } = startServer(EchoHandler, { strategy: strategy() });
    await server.listening;
    const ending = closed(server, 1);
    expect(await exchange(server.port, 'traced\n')).toBe('traced\n');
    await ending;
    const ours = events.filter(({ message }) => message.server === server);
    expect(ours.map(({ event }) => event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(ours[0]?.message).toMatchObject({
      clientAddress: { host: '127.0.0.1' },
      RequestHandlerClass: EchoHandler,
    });
    expect(ours[0]?.message.request).toBeInstanceOf(net.Socket);
    expect(server.errors).toEqual([]);
  });

  it('publishes a handler’s failure on :error, which handleError still gets', async () => {
    const events = recordRequests();
    const { server } = startServer(ThrowingHandler);
    await server.listening;
    const ending = closed(server, 1);
    await exchange(server.port, 'x\n');
    await ending;
    const errors = events.filter(({ event, message }) => event === 'error' && message.server === server);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message.error).toBeInstanceOf(RangeError);
    expect(server.errors.map(({ error }) => error)).toEqual([errors[0]?.message.error]);
  });

  it('traces a datagram request: its request is [data, socket]', async () => {
    const events = recordRequests();
    const server = new UDPServer(['127.0.0.1', 0], DatagramEchoHandler, { strategy: eventLoopStrategy() });
    onTestFinished(() => server.serverClose());
    void server.serveForever().catch(() => {});
    await server.listening;
    const client = dgram.createSocket('udp4');
    onTestFinished(() => void client.close());
    client.send('datagram', server.port, '127.0.0.1');
    const signal = AbortSignal.timeout(waitMs);
    while (!events.some(({ event, message }) => event === 'asyncEnd' && message.server === server)) {
      await once(requestEvents, 'event', { signal });
    }
    const ours = events.filter(({ message }) => message.server === server);
    expect(ours[0]?.event).toBe('start');
    const [data] = ours[0]?.message.request as [Buffer, unknown];
    expect(data.toString()).toBe('datagram');
  });
});
