// The caps on connections in handshake (maxHandshakes, maxHandshakesPerSource): peers that connect
// and never finish their TLS handshake or PROXY header, against a server on this thread.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { sourceOf } from './handshake-gate.js';
import { serialStrategy } from '../strategy/serial-strategy.js';
import type { DropEvent } from '../servers/stream-server.js';
import { makeCertificate } from '../test-support/certificate.js';
import { startServer, type RecordingServer } from '../test-support/recording-server.js';
import { EchoHandler } from '../test-support/test-handlers.js';
import type { TCPServerOptions } from '../servers/tcp-server.js';

const waitMs = 5_000;
let directory: string;
let key: string;
let cert: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'handshakes-'));
  ({ key, cert } = makeCertificate(directory, 'localhost'));
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

async function startTLSServer(options: TCPServerOptions = {}): Promise<RecordingServer> {
  const { server } = startServer(EchoHandler, {
    tls: { key, cert, handshakeTimeoutMs: 60_000 },
    ...options,
  });
  await server.listening;
  return server;
}

/** Resolves with the next `count` drops of `server`. */
async function drops(server: RecordingServer, count: number): Promise<DropEvent[]> {
  const seen: DropEvent[] = [];
  const signal = AbortSignal.timeout(waitMs);
  while (seen.length < count) {
    const [event] = (await once(server, 'drop', { signal })) as [DropEvent];
    seen.push(event);
  }
  return seen;
}

/** Resolves once `server` has accepted `count` more connections (their `new` state). */
async function accepted(server: RecordingServer, count: number): Promise<void> {
  const signal = AbortSignal.timeout(waitMs);
  for (let seen = 0; seen < count;) {
    const [event] = (await once(server, 'connectionState', { signal })) as [{ state: string }];
    if (event.state === 'new') seen += 1;
  }
}

/** A TCP client that connects and sends nothing: a ClientHello, or a PROXY header, that never comes. */
async function silentPeer(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.on('error', () => {}); // a dropped peer may see a reset
  await once(socket, 'connect', { signal: AbortSignal.timeout(waitMs) });
  socket.resume();
  return socket;
}

/** Resolves once the server closed `socket`. */
async function closedByServer(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return;
  await once(socket, 'close', { signal: AbortSignal.timeout(waitMs) });
}

async function tlsEcho(port: number, text: string): Promise<string> {
  const client = tls.connect({ host: '127.0.0.1', port, ca: cert });
  onTestFinished(() => void client.destroy());
  await once(client, 'secureConnect', { signal: AbortSignal.timeout(waitMs) });
  client.write(text);
  const [data] = (await once(client, 'data', { signal: AbortSignal.timeout(waitMs) })) as [Buffer];
  return data.toString();
}

describe('maxHandshakesPerSource', () => {
  it('drops a source’s connection beyond the cap at once, and counts it', async () => {
    const server = await startTLSServer({ maxHandshakesPerSource: 3 });
    const silent = [];
    for (let i = 0; i < 3; i += 1) silent.push(await silentPeer(server.port));
    const dropped = drops(server, 1);
    const beyond = await silentPeer(server.port);
    const [drop] = await dropped;
    expect(drop).toMatchObject({ reason: 'maxHandshakesPerSource', clientAddress: { host: '127.0.0.1' } });
    await closedByServer(beyond);
    expect(server.stats().refused.handshakes).toBe(1);
    expect(server.connectionCount).toBe(3);
    // One silent peer leaves: its place in the handshake count is free again.
    const closing = once(server, 'connectionState', { signal: AbortSignal.timeout(waitMs) });
    silent[0]?.destroy();
    await closing;
    expect(await tlsEcho(server.port, 'Hello\n')).toBe('Hello\n');
  });

  it('lets connections whose handshake is over go beyond it: only handshakes count', async () => {
    const server = await startTLSServer({ maxHandshakesPerSource: 1 });
    const clients = [];
    for (let i = 0; i < 5; i += 1) {
      const client = tls.connect({ host: '127.0.0.1', port: server.port, ca: cert });
      onTestFinished(() => void client.destroy());
      await once(client, 'secureConnect', { signal: AbortSignal.timeout(waitMs) });
      // An echo: the server's side of the handshake is over too (the client's may end first).
      client.write('Hello\n');
      await once(client, 'data', { signal: AbortSignal.timeout(waitMs) });
      clients.push(client);
    }
    expect(server.connectionCount).toBe(5);
    expect(server.stats().refused.handshakes).toBe(0);
  });

  it('counts a failed handshake out: a plain-TCP client that is refused frees its place', async () => {
    const server = await startTLSServer({ maxHandshakesPerSource: 1 });
    for (let i = 0; i < 3; i += 1) {
      const plain = await silentPeer(server.port);
      plain.write('not a ClientHello\n');
      await closedByServer(plain);
      await server.waitForErrors(i + 1);
    }
    expect(await tlsEcho(server.port, 'after\n')).toBe('after\n');
    expect(server.stats().refused.handshakes).toBe(0);
  });

  it('does not apply to a PROXY server’s peers, which are its proxies', async () => {
    const server = await startTLSServer({ maxHandshakesPerSource: 1, proxyProtocol: 'v1' });
    const newOnes = accepted(server, 3);
    for (let i = 0; i < 3; i += 1) await silentPeer(server.port);
    await newOnes;
    expect(server.stats().refused.handshakes).toBe(0);
  });

  it('is refused when it is not a positive integer', () => {
    for (const value of [0, -1, 1.5, Number.NaN]) {
      expect(() =>
        startServer(EchoHandler, {
          tls: { key, cert },
          maxHandshakesPerSource: value,
          bindAndActivate: false,
        }),
      ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }) as Error);
    }
  });
});

describe('maxHandshakes', () => {
  it('defaults to 1024', async () => {
    const server = await startTLSServer();
    expect(server.maxHandshakes).toBe(1024);
    expect(server.maxHandshakesPerSource).toBe(Number.POSITIVE_INFINITY);
  });

  it('drops a connection beyond it at once, from any source', async () => {
    const server = await startTLSServer({ maxHandshakes: 2 });
    await silentPeer(server.port);
    await silentPeer(server.port);
    const dropped = drops(server, 1);
    const beyond = await silentPeer(server.port);
    const [drop] = await dropped;
    expect(drop?.reason).toBe('maxHandshakes');
    await closedByServer(beyond);
    expect(server.stats().refused.handshakes).toBe(1);
  });

  it('bounds peers that never end their PROXY header', async () => {
    const { server } = startServer(EchoHandler, { proxyProtocol: 'v1', maxHandshakes: 2 });
    await server.listening;
    await silentPeer(server.port);
    await silentPeer(server.port);
    const dropped = drops(server, 1);
    const beyond = await silentPeer(server.port);
    beyond.write('PROXY TCP4 203.0.113.7'); // the rest never comes
    const [drop] = await dropped;
    expect(drop?.reason).toBe('maxHandshakes');
  });

  it('keeps a serial server from waiting on silent peers for long: the ones beyond it are closed', async () => {
    // A serial server serves one connection at a time; a silent TLS peer holds it until the
    // handshake timeout. With the cap, the next silent ones are turned away, not queued behind it.
    const server = await startTLSServer({ strategy: serialStrategy(), maxHandshakes: 1 });
    await silentPeer(server.port);
    const dropped = drops(server, 1);
    const beyond = await silentPeer(server.port);
    await dropped;
    await closedByServer(beyond);
  });

  it('applies to nothing on a plain server: no handshake to count', async () => {
    const { server } = startServer(EchoHandler, { maxHandshakes: 1 });
    await server.listening;
    const newOnes = accepted(server, 3);
    for (let i = 0; i < 3; i += 1) await silentPeer(server.port);
    await newOnes;
    expect(server.stats().refused.handshakes).toBe(0);
  });
});

describe('sourceOf', () => {
  it('counts IPv4 addresses each, IPv6 by /64, and Unix peers not at all', () => {
    expect(sourceOf({ family: 'IPv4', host: '127.0.0.1', port: 1 })).toBe('127.0.0.1');
    expect(sourceOf({ family: 'IPv6', host: '2001:db8::1', port: 1 })).toBe('2001:db8:0:0::/64');
    expect(sourceOf({ family: 'IPv6', host: '2001:DB8:0:0:ffff::2', port: 1 })).toBe('2001:db8:0:0::/64');
    expect(sourceOf({ family: 'IPv6', host: '2001:db8:1:2:3:4:5:6', port: 1 })).toBe('2001:db8:1:2::/64');
    expect(sourceOf({ family: 'IPv6', host: '::1', port: 1 })).toBe('0:0:0:0::/64');
    expect(sourceOf({ family: 'IPv6', host: 'fe80::1%eth0', port: 1 })).toBe('fe80:0:0:0::/64');
    expect(sourceOf({ family: 'Unix', path: '' })).toBeUndefined();
  });
});
