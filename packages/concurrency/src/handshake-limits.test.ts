// Peers that connect and never send their TLS ClientHello, against pools: how many stall a pool of
// 16 one-connection workers, and how maxHandshakes and maxHandshakesPerSource bound it.
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { DropEvent, TCPServerOptions } from '@socketserver/core';
import { pool, type PoolOptions } from '@socketserver/concurrency';
import { makeCertificate } from './test-support/certificate.js';
import { RecordingServer, waitMs } from './test-support/recording-server.js';
import { TLSEchoHandler } from './test-support/tls-echo-handler.js';

let directory: string;
let key: string;
let cert: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'ssc-handshakes-'));
  ({ key, cert } = makeCertificate(directory, 'server', 'localhost'));
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** A TLS echo server on a pool, listening; closed (every worker gone) when the test ends. */
async function startPoolServer(
  poolOptions: PoolOptions,
  options: TCPServerOptions = {},
): Promise<RecordingServer> {
  const server = new RecordingServer(
    pool(poolOptions),
    { tls: { key, cert, handshakeTimeoutMs: 60_000 }, ...options },
    TLSEchoHandler,
  );
  const serving = server.serveForever();
  serving.catch(() => {});
  onTestFinished(async () => {
    await server.serverClose();
    await serving;
    expect(server.strategy.workerCount).toBe(0);
  });
  await server.listening;
  return server;
}

/** A TCP client that connects and sends nothing: its ClientHello never comes. */
async function silentPeer(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.on('error', () => {}); // a dropped peer may see a reset
  await once(socket, 'connect', { signal: AbortSignal.timeout(waitMs) });
  socket.resume();
  return socket;
}

/** A TLS client connected and secure, that has had one line echoed (the server's handshake is over too). */
async function tlsClient(port: number): Promise<tls.TLSSocket> {
  const client = tls.connect({ host: '127.0.0.1', port, ca: cert });
  onTestFinished(() => void client.destroy());
  await once(client, 'secureConnect', { signal: AbortSignal.timeout(waitMs) });
  client.write('Hello\n');
  await once(client, 'data', { signal: AbortSignal.timeout(waitMs) });
  return client;
}

/**
 * Resolves once `isDone()` holds, checked after every connection state change and drop of
 * `server`; rejects after `waitMs`.
 */
async function until(server: RecordingServer, isDone: () => boolean): Promise<void> {
  const changes = new EventEmitter();
  const onChange = (): boolean => changes.emit('change');
  server.on('connectionState', onChange).on('drop', onChange);
  try {
    const signal = AbortSignal.timeout(waitMs);
    while (!isDone()) await once(changes, 'change', { signal });
  } finally {
    server.off('connectionState', onChange).off('drop', onChange);
  }
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

describe('silent TLS peers and a pool of 16 one-connection workers', () => {
  it('16 of them stall it: the next client waits until one leaves', async () => {
    const server = await startPoolServer({
      kind: 'thread',
      workers: 16,
      requestsPerWorker: 1,
      accept: 'main',
    });
    const silent = [];
    for (let i = 0; i < 16; i += 1) silent.push(await silentPeer(server.port));
    await until(server, () => server.stats().active === 16);
    const client = tls.connect({ host: '127.0.0.1', port: server.port, ca: cert });
    onTestFinished(() => void client.destroy());
    let isSecure = false;
    const secure = once(client, 'secureConnect', { signal: AbortSignal.timeout(waitMs) }).then(() => {
      isSecure = true;
    });
    await until(server, () => server.stats().waiting === 1);
    expect(isSecure).toBe(false); // no worker is free to finish its handshake
    silent[0]?.destroy();
    await secure;
  });

  it('maxHandshakesPerSource 8 bounds one source to 8 workers: the 9th is closed at once', async () => {
    const server = await startPoolServer(
      { kind: 'thread', workers: 16, requestsPerWorker: 1, accept: 'main' },
      { maxHandshakesPerSource: 8 },
    );
    for (let i = 0; i < 8; i += 1) await silentPeer(server.port);
    await until(server, () => server.stats().active === 8);
    const dropped = drops(server, 1);
    const beyond = await silentPeer(server.port);
    expect((await dropped)[0]?.reason).toBe('maxHandshakesPerSource');
    if (!beyond.destroyed) await once(beyond, 'close', { signal: AbortSignal.timeout(waitMs) });
    expect(server.stats()).toMatchObject({ active: 8, waiting: 0, refused: { handshakes: 1 } });
  });

  it('a worker reports the end of a handshake: served clients do not count', async () => {
    const server = await startPoolServer(
      { kind: 'process', workers: 2, requestsPerWorker: 4, accept: 'main' },
      { maxHandshakes: 2 },
    );
    // Each client finishes its handshake (an echo) before the next connects: without the worker's
    // reports, the third would be dropped. (Not 1: the report of the last one and the next accept
    // may come in one turn of the main side's event loop, in either order.)
    for (let i = 0; i < 6; i += 1) await tlsClient(server.port);
    expect(server.stats()).toMatchObject({ active: 6, refused: { handshakes: 0 } });
  });
});

describe.each(['thread', 'process'] as const)("pool({ kind: '%s', accept: 'workers' })", (kind) => {
  it('runs handshakes beside its slots: silent peers hold none, a TLS client is served', async () => {
    // One worker, one slot: were a handshake in a slot, the first silent peer would stall it all.
    const server = await startPoolServer({ kind, workers: 1, requestsPerWorker: 1, accept: 'workers' });
    const waitingOnes = server.stats().waiting;
    const opened: string[] = [];
    server.on('connectionState', ({ state }) => opened.push(state));
    for (let i = 0; i < 8; i += 1) await silentPeer(server.port);
    await until(server, () => opened.length === 8);
    expect(server.stats()).toMatchObject({ active: 0, waiting: waitingOnes + 8 });
    const client = await tlsClient(server.port);
    client.write('still here\n');
    const [echoed] = (await once(client, 'data', { signal: AbortSignal.timeout(waitMs) })) as [Buffer];
    expect(echoed.toString()).toBe('still here\n');
    // The one slot is the client's: the next one to finish its handshake waits for it.
    const next = tls.connect({ host: '127.0.0.1', port: server.port, ca: cert });
    onTestFinished(() => void next.destroy());
    await once(next, 'secureConnect', { signal: AbortSignal.timeout(waitMs) });
    next.write('waiting\n');
    const answered = once(next, 'data', { signal: AbortSignal.timeout(waitMs) });
    client.destroy();
    expect(((await answered) as [Buffer])[0].toString()).toBe('waiting\n');
  });

  it('each worker keeps its share of maxHandshakes', async () => {
    const server = await startPoolServer(
      { kind, workers: 2, requestsPerWorker: 8, accept: 'workers' },
      { maxHandshakes: 4 },
    );
    const opened: string[] = [];
    server.on('connectionState', ({ state }) => opened.push(state));
    const dropped: DropEvent[] = [];
    server.on('drop', (event) => dropped.push(event));
    for (let i = 0; i < 12; i += 1) await silentPeer(server.port);
    // Workers report in batches: wait until every connection is accounted for.
    await until(server, () => opened.filter((state) => state === 'new').length + dropped.length === 12);
    // Shares of 2 each: the kernel spreads connections unevenly, so a worker may drop before 4 are held.
    expect(opened.filter((state) => state === 'new').length).toBeLessThanOrEqual(4);
    expect(dropped.length).toBeGreaterThanOrEqual(8);
    expect(dropped.every(({ reason }) => reason === 'maxHandshakes')).toBe(true);
    expect(server.stats().refused.handshakes).toBe(dropped.length);
  });
});
