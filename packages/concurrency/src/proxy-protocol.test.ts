import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duplexPair } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import net from 'node:net';
import tls from 'node:tls';
import * as proxyProtocol from 'proxy-protocol-js';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ProxyProtocolError } from '@socketserver/core';
import { forking, pool, threading, type WorkerPool } from '@socketserver/concurrency';
import { proxyV1Header } from './test-support/proxy-headers.js';
import { startServer, waitMs } from './test-support/recording-server.js';
import { openClient, pidOf, whoami } from './test-support/test-clients.js';
import { TLSEchoHandler } from './test-support/tls-echo-handler.js';
import { threadId } from 'node:worker_threads';

/** A v2 header naming an IPv6 client (`2001:db8::` + `last`), built by proxy-protocol-js. */
function v2(last: number, port: number): Buffer {
  const source = [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), last];
  return Buffer.from(
    new proxyProtocol.V2ProxyProtocol(
      proxyProtocol.Command.PROXY,
      proxyProtocol.TransportProtocol.STREAM,
      new proxyProtocol.IPv6ProxyAddress(
        proxyProtocol.IPv6Address.createFrom(source),
        port,
        proxyProtocol.IPv6Address.createFrom([...Array<number>(15).fill(0), 1]),
        20000,
      ),
    ).build(),
  );
}

/** A v2 header for 198.51.100.7:7000 -> 192.0.2.80:20000 with a unique-id TLV (0x05), by hand (proxy-protocol-js builds no TLVs). */
function v2WithUniqueId(id: string): Buffer {
  const addresses = Buffer.from([198, 51, 100, 7, 192, 0, 2, 80, 0x1b, 0x58, 0x4e, 0x20]);
  const tlv = Buffer.concat([Buffer.from([0x05, 0, id.length]), Buffer.from(id)]);
  const fixed = Buffer.from([0x21, 0x11, 0, addresses.length + tlv.length]);
  return Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1'), fixed, addresses, tlv]);
}

const strategies: [string, () => WorkerPool][] = [
  ['threading()', () => threading()],
  ['forking()', () => forking({ spareChildren: 0 })],
  ['pool({ kind: "thread" })', () => pool({ workers: 2, kind: 'thread' })],
  ['pool({ kind: "process" })', () => pool({ workers: 2, kind: 'process' })],
];

describe.each(strategies)('PROXY protocol with %s: the header is read in the worker', (_name, strategy) => {
  it('gives the handler the original client, with the bytes sent after the header intact', async () => {
    const { server } = startServer(strategy(), { proxyProtocol: 'any' });
    await server.listening;
    const one = await openClient(server.port);
    // The header and the first request in one write: the worker reads both, and keeps the request.
    await one.sendAll(Buffer.concat([proxyV1Header('203.0.113.7', 51234), Buffer.from('!address\n')]));
    expect(JSON.parse((await one.readline()).toString())).toEqual({
      host: '203.0.113.7',
      port: 51234,
      family: 'IPv4',
    });
    const worker = await whoami(one);
    expect(worker).not.toBe(`${process.pid} ${threadId}`);
    const two = await openClient(server.port);
    await two.sendAll(Buffer.concat([v2(7, 4242), Buffer.from('!address\nHello\n')]));
    expect(JSON.parse((await two.readline()).toString())).toEqual({
      host: '2001:db8::7',
      port: 4242,
      family: 'IPv6',
    });
    expect((await two.readline()).toString()).toBe('Hello\n');
    expect(server.errors).toEqual([]);
    expect(pidOf(worker)).toBeGreaterThan(0);
  });

  it('closes a connection with a bad header and reports it to handleError on the main side', async () => {
    const { server } = startServer(strategy(), { proxyProtocol: 'v2' });
    await server.listening;
    const client = await openClient(server.port);
    await client.sendAll(Buffer.concat([proxyV1Header('203.0.113.7', 1), Buffer.from('!address\n')]));
    expect((await client.recvUntilClosed()).toString()).toBe('');
    const [reported] = await server.waitForErrors(1);
    expect(reported?.error).toMatchObject({ code: 'ERR_PROXY_PROTOCOL' });
    expect((reported?.error as Error).message).toMatch(
      /^PROXY protocol: expected a v2 header, got "PROXY TCP4/,
    );
    // Reported with the connection's peer: the header named nobody the server believes.
    expect(reported?.clientAddress).toMatchObject({ host: '127.0.0.1', port: client.localPort });
    expect(server.stats().refused.proxyProtocol).toBe(1);
    // The worker lives on.
    const next = await openClient(server.port);
    await next.sendAll(Buffer.concat([v2(9, 9), Buffer.from('Hello\n')]));
    expect((await next.readline()).toString()).toBe('Hello\n');
  });

  it('closes a connection from an untrusted peer', async () => {
    const { server } = startServer(strategy(), {
      proxyProtocol: 'any',
      proxyTrustedSources: ['192.0.2.0/24'],
    });
    await server.listening;
    const client = await openClient(server.port);
    await client.sendAll(Buffer.concat([proxyV1Header('203.0.113.7', 1), Buffer.from('Hello\n')]));
    // Closed unread: the kernel resets a connection closed with bytes left unread.
    expect(await client.recvUntilClosed().then(String, (error: { code?: string }) => error.code)).toMatch(
      /^(|ERR_CONNECTION_RESET)$/,
    );
    const [reported] = await server.waitForErrors(1);
    expect((reported?.error as Error).message).toBe(
      'PROXY protocol: 127.0.0.1 is not a trusted proxy (proxyTrustedSources)',
    );
  });
});

describe.each([
  ['pool({ kind: "thread" })', () => pool({ workers: 1, kind: 'thread' })],
  ['pool({ kind: "process" })', () => pool({ workers: 1, kind: 'process' })],
])('proxyHeaderTimeoutMs: 0 turns the timeout off in the worker too, with %s', (_name, strategy) => {
  it('takes a header sent in two parts 300 ms apart', async () => {
    const { server } = startServer(strategy(), { proxyProtocol: 'v1', proxyHeaderTimeoutMs: 0 });
    await server.listening;
    const client = await openClient(server.port);
    const header = proxyV1Header('203.0.113.9', 9009);
    await client.sendAll(header.subarray(0, 10));
    await delay(300); // the slow proxy: the pause is what is tested
    expect(server.errors).toEqual([]);
    await client.sendAll(Buffer.concat([header.subarray(10), Buffer.from('!address\n')]));
    expect(JSON.parse((await client.readline()).toString())).toEqual({
      host: '203.0.113.9',
      port: 9009,
      family: 'IPv4',
    });
    expect(server.errors).toEqual([]);
  });
});

describe('proxyHeaderOf in a worker', () => {
  it.each([
    ['thread', () => pool({ workers: 1, kind: 'thread' })],
    ['process', () => pool({ workers: 1, kind: 'process' })],
  ] as const)('in a %s worker, the handler reads the destination and the TLVs', async (_kind, strategy) => {
    const { server } = startServer(strategy(), { proxyProtocol: 'v2' }, TLSEchoHandler);
    await server.listening;
    const client = await openClient(server.port);
    await client.sendAll(Buffer.concat([v2WithUniqueId('req-42'), Buffer.from('!proxy\n')]));
    expect(JSON.parse((await client.readline()).toString())).toEqual({
      version: 2,
      destination: { host: '192.0.2.80', port: 20000, family: 'IPv4' },
      tlvs: [[5, 'req-42']],
    });
  });
});

describe('PROXY protocol and TLS in a worker', () => {
  let directory: string;
  let key: string;
  let cert: string;

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'ssc-proxy-tls-'));
    const made = spawnSync(
      '/usr/bin/openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
        '-keyout',
        join(directory, 'key.pem'),
        '-out',
        join(directory, 'cert.pem'),
      ]),
      { encoding: 'utf8', timeout: waitMs },
    );
    if (made.status !== 0) throw new Error(`openssl could not make a test certificate: ${made.stderr}`);
    key = readFileSync(join(directory, 'key.pem'), 'utf8');
    cert = readFileSync(join(directory, 'cert.pem'), 'utf8');
  });

  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it.each([
    ['thread', () => pool({ workers: 1, kind: 'thread' })],
    ['process', () => pool({ workers: 1, kind: 'process' })],
  ] as const)(
    'in a %s worker: the header first, then the handshake, the ClientHello in the same read',
    async (_kind, strategy) => {
      const { server } = startServer(strategy(), { proxyProtocol: 'v1', tls: { key, cert } }, TLSEchoHandler);
      await server.listening;
      // A TLS client over an in-memory pair: its ClientHello goes out in one write with the header.
      const [clientSide, wireSide] = duplexPair();
      const secure = tls.connect({ socket: clientSide, ca: cert, servername: 'localhost' });
      onTestFinished(() => void secure.destroy());
      let received = '';
      secure.on('data', (chunk: Buffer) => (received += chunk.toString()));
      const [clientHello] = (await once(wireSide, 'data', { signal: AbortSignal.timeout(waitMs) })) as [
        Buffer,
      ];
      const raw = net.connect(server.port, '127.0.0.1');
      onTestFinished(() => void raw.destroy());
      await once(raw, 'connect', { signal: AbortSignal.timeout(waitMs) });
      raw.write(Buffer.concat([proxyV1Header('198.51.100.20', 6000), clientHello]));
      raw.pipe(wireSide).pipe(raw);
      await once(secure, 'secureConnect', { signal: AbortSignal.timeout(waitMs) });
      secure.write('!address\n!tls\n');
      for (let count = 0; count < 100 && received.split('\n').length < 3; count += 1) {
        await once(secure, 'data', { signal: AbortSignal.timeout(waitMs) });
      }
      const [address, socket] = received
        .split('\n')
        .map((line): unknown => (line === '' ? undefined : JSON.parse(line)));
      expect(address).toEqual({ host: '198.51.100.20', port: 6000, family: 'IPv4' });
      expect(socket).toMatchObject({ isTLSSocket: true, encrypted: true });
      expect(server.errors).toEqual([]);
    },
  );
});

/** Connect from 127.0.0.1 and wait for the server to close the connection (a reset counts); bounded. */
async function connectAndSeeClosed(port: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  const closed = Promise.withResolvers<void>();
  const timer = setTimeout(() => closed.reject(new Error('the server did not close it in time')), waitMs);
  socket.on('error', () => {}).on('close', () => closed.resolve());
  socket.resume();
  socket.write(proxyV1Header('203.0.113.7', 51234));
  await closed.promise.finally(() => clearTimeout(timer));
}

describe('an untrusted peer is refused at accept, before it costs a slot, thread or process', () => {
  it('forking(): 200 connects from an untrusted address start no child process, each counted', async () => {
    const { server } = startServer(forking({ spareChildren: 0 }), {
      proxyProtocol: 'v1',
      proxyTrustedSources: ['10.0.0.0/8'],
    });
    await server.listening;
    const connects = 200;
    for (let batch = 0; batch < connects; batch += 50) {
      await Promise.all(Array.from({ length: 50 }, () => connectAndSeeClosed(server.port)));
    }
    const reported = await server.waitForErrors(connects);
    expect(reported).toHaveLength(connects);
    for (const { error } of reported) {
      expect(error).toMatchObject({ code: 'ERR_PROXY_PROTOCOL', reason: 'untrusted' });
    }
    expect(server.stats().refused.proxyProtocol).toBe(connects);
    // forking() starts one child with the server (its spare, at least one); every connection handed
    // to a child beyond it would start another (200 of them before this change). None did.
    expect(server.startedWorkerIds.length).toBeLessThanOrEqual(1);
    expect(server.strategy.workerCount).toBeLessThanOrEqual(1);
    expect(server.connectionCount).toBe(0);

    // A server that trusts loopback serves through a child.
    const trusting = startServer(forking({ spareChildren: 0 }), { proxyProtocol: 'v1' }).server;
    await trusting.listening;
    const client = await openClient(trusting.port);
    await client.sendAll(Buffer.concat([proxyV1Header('203.0.113.7', 51234), Buffer.from('!address\n')]));
    expect(JSON.parse((await client.readline()).toString())).toEqual({
      host: '203.0.113.7',
      port: 51234,
      family: 'IPv4',
    });
    expect(pidOf(await whoami(client))).not.toBe(process.pid); // served in a child
    expect(trusting.stats().refused.proxyProtocol).toBe(0);
  });

  it.each(['thread', 'process'] as const)(
    "pool({ kind: '%s', accept: 'workers' }): the worker refuses at accept, unopened, and the main side counts it",
    async (kind) => {
      const { server } = startServer(pool({ workers: 2, kind, accept: 'workers' }), {
        proxyProtocol: 'any',
        proxyTrustedSources: ['10.0.0.0/8'],
      });
      const states: string[] = [];
      server.on('connectionState', ({ state }) => states.push(state));
      await server.listening;
      expect(server.listenerSharing).toBeDefined();
      const connects = 40;
      await Promise.all(Array.from({ length: connects }, () => connectAndSeeClosed(server.port)));
      const reported = await server.waitForErrors(connects);
      for (const { error, clientAddress } of reported) {
        expect(error).toMatchObject({ code: 'ERR_PROXY_PROTOCOL', reason: 'untrusted' });
        expect(error).toBeInstanceOf(ProxyProtocolError);
        expect((error as Error).message).toBe(
          'PROXY protocol: 127.0.0.1 is not a trusted proxy (proxyTrustedSources)',
        );
        expect(clientAddress).toMatchObject({ host: '127.0.0.1', family: 'IPv4' });
      }
      // Accepted (by a worker) and refused, as the server counts the ones it accepts itself.
      expect(server.stats()).toMatchObject({ accepted: connects, refused: { proxyProtocol: connects } });
      // Never opened: no slot, no 'new' connection, no worker lost or added.
      expect(states).toEqual([]);
      expect(server.strategy.workerCount).toBe(2);
    },
  );
});
