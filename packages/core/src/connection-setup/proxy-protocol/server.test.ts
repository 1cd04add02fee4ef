import { spawnSync } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duplexPair } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import tls from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import type { ClientAddress } from '../../support/client-address.js';
import { serialStrategy } from '../../strategy/serial-strategy.js';
import type { TCPServerOptions } from '../../servers/tcp-server.js';
import { v1Header, v2Header, v2Inet, v2Inet6, v2Unix } from '../../test-support/proxy-headers.js';
import { RecordingServer } from '../../test-support/recording-server.js';
import { StreamClient, tempDir } from '../../test-support/socket-helpers.js';
import { SocketHandler } from '../../test-support/test-handlers.js';
import { eventLoopStrategy } from '../../strategy/event-loop-strategy.js';
import { UnixStreamServer } from '../../servers/unix-stream-server.js';
import { proxyHeaderOf } from './header-store.js';

/** The client addresses handlers were built with, in this test. */
const handled: ClientAddress[] = [];
beforeEach(() => {
  handled.length = 0;
});

/** Writes the client address it was given as a JSON line, then echoes until EOF. */
class AddressEchoHandler extends SocketHandler {
  override async handle(): Promise<void> {
    handled.push(this.clientAddress);
    this.request.write(`${JSON.stringify(this.clientAddress)}\n`);
    for await (const chunk of this.request as AsyncIterable<Buffer>) {
      if (!this.request.write(chunk)) await once(this.request, 'drain');
    }
  }
}

/** Writes what `proxyHeaderOf` says of its request: destination and TLVs, as a JSON line. */
class HeaderHandler extends SocketHandler {
  override handle(): void {
    const header = proxyHeaderOf(this.request);
    this.request.write(
      `${JSON.stringify({
        version: header?.version,
        destination: header?.destination,
        tlvs: header?.tlvs.map(({ type, value }) => [type, value.toString()]),
      })}\n`,
    );
  }
}

/** A RecordingServer that also records what verifyRequest saw, and counts handlers run. */
class ProxiedServer extends RecordingServer {
  readonly verified: ClientAddress[] = [];

  override verifyRequest(request: Socket, clientAddress: ClientAddress): boolean {
    this.verified.push(clientAddress);
    return super.verifyRequest(request, clientAddress) as boolean;
  }
}

async function startProxied(options: TCPServerOptions = {}): Promise<ProxiedServer> {
  const server = new ProxiedServer(['127.0.0.1', 0], AddressEchoHandler, {
    strategy: eventLoopStrategy(),
    proxyProtocol: 'any',
    ...options,
  });
  onTestFinished(() => server.serverClose());
  void server.serveForever().catch(() => {});
  await server.listening;
  return server;
}

async function connect(server: RecordingServer): Promise<StreamClient> {
  return StreamClient.connectTo({ port: server.port, host: '127.0.0.1' });
}

/** The first line the handler wrote: the client address it got. */
async function addressLine(client: StreamClient): Promise<unknown> {
  let line = '';
  for (let count = 0; count < 512 && !line.endsWith('\n'); count += 1) {
    const byte = await client.read(1);
    if (byte.length === 0) throw new Error(`the server closed the connection after ${JSON.stringify(line)}`);
    line += byte.toString();
  }
  return JSON.parse(line);
}

/** Send `bytes`, then expect the server to close the connection with nothing written, and report one error. */
async function expectRefused(
  server: RecordingServer,
  bytes: Buffer | undefined,
  end = false,
): Promise<Error> {
  const client = await connect(server);
  if (bytes !== undefined) client.write(bytes);
  if (end) client.end();
  expect((await client.readToEnd()).toString()).toBe('');
  const [reported] = await server.waitForErrors(1);
  expect(reported?.error).toMatchObject({ code: 'ERR_PROXY_PROTOCOL' });
  expect((reported?.error as Error).message).toMatch(/^PROXY protocol: [^\n]+$/);
  return reported?.error as Error;
}

describe('a stream server with proxyProtocol', () => {
  it('gives the handler the original client of a v1 header, and the data after it intact', async () => {
    const server = await startProxied({ proxyProtocol: 'v1' });
    const client = await connect(server);
    // Header and data in one write: the bytes read past the header go to the handler first.
    client.write(Buffer.concat([v1Header(['203.0.113.7', 51234]), Buffer.from('Hello\n')]));
    const original = { host: '203.0.113.7', port: 51234, family: 'IPv4' };
    expect(await addressLine(client)).toEqual(original);
    expect((await client.read(6)).toString()).toBe('Hello\n');
    client.write('again\n');
    expect((await client.read(6)).toString()).toBe('again\n');
    expect(handled).toEqual([original]);
    // verifyRequest runs at accept, before the header is read (in a worker, for those strategies).
    expect(server.verified).toEqual([{ host: '127.0.0.1', port: client.socket.localPort, family: 'IPv4' }]);
    expect(server.errors).toEqual([]);
  });

  it('reads a v2 header that arrives a few bytes at a time', async () => {
    const server = await startProxied({ proxyProtocol: 'v2' });
    const client = await connect(server);
    const header = v2Header({ addresses: v2Inet6(['2001:db8::7', 4242]) });
    for (const [start, end] of [
      [0, 5],
      [5, 15],
      [15, header.length],
    ] as const) {
      client.write(header.subarray(start, end));
      await new Promise((resolve) => client.socket.write('', resolve)); // flushed before the next piece
    }
    expect(await addressLine(client)).toEqual({ host: '2001:db8::7', port: 4242, family: 'IPv6' });
    client.write('Hello\n');
    expect((await client.read(6)).toString()).toBe('Hello\n');
  });

  it('takes a Unix-socket client of a v2 header, and a LOCAL one (a health check) as the proxy itself', async () => {
    const server = await startProxied();
    const unixClient = await connect(server);
    unixClient.write(v2Header({ addresses: v2Unix('/run/haproxy/client.sock') }));
    expect(await addressLine(unixClient)).toEqual({ path: '/run/haproxy/client.sock', family: 'Unix' });
    const healthCheck = await connect(server);
    healthCheck.write(v2Header({ command: 0 }));
    expect(await addressLine(healthCheck)).toEqual({
      host: '127.0.0.1',
      port: healthCheck.socket.localPort,
      family: 'IPv4',
    });
  });

  it('serves v1 and v2 clients side by side with proxyProtocol "any"', async () => {
    const server = await startProxied({ proxyProtocol: 'any' });
    const one = await connect(server);
    const two = await connect(server);
    one.write(v1Header(['198.51.100.1', 1111]));
    two.write(v2Header({ addresses: v2Inet(['198.51.100.2', 2222]) }));
    expect(await addressLine(one)).toMatchObject({ host: '198.51.100.1', port: 1111 });
    expect(await addressLine(two)).toMatchObject({ host: '198.51.100.2', port: 2222 });
  });

  it('closes a connection from an untrusted peer without reading it, and reports it once', async () => {
    const server = await startProxied({ proxyTrustedSources: ['10.0.0.0/8', 'fd00::/8'] });
    const error = await expectRefused(server, v1Header(['203.0.113.7', 1]));
    expect(error).toMatchObject({ reason: 'untrusted' });
    expect(error.message).toBe('PROXY protocol: 127.0.0.1 is not a trusted proxy (proxyTrustedSources)');
    expect(handled).toEqual([]);
    expect(server.stats().refused.proxyProtocol).toBe(1);
  });

  it.each([
    ['a plain client with no header', 'any', Buffer.from('Hello\n'), 'malformed'],
    [
      'a TLS ClientHello where the header should be',
      'any',
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]),
      'malformed',
    ],
    ['a v2 header where v1 is expected', 'v1', v2Header({ addresses: v2Inet(['1.2.3.4', 5]) }), 'malformed'],
    ['a v1 header where v2 is expected', 'v2', v1Header(['1.2.3.4', 5]), 'malformed'],
    ['a bad v1 port', 'any', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\nHello\n'), 'malformed'],
    ['a v1 line with no CRLF in 107 bytes', 'any', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), 'oversized'],
    ['a bad v2 command', 'any', v2Header({ command: 7 }), 'malformed'],
    [
      'a v2 header with a bad CRC32c',
      'any',
      v2Header({ addresses: v2Inet(['1.2.3.4', 5]), crc: 'wrong' }),
      'malformed',
    ],
  ] as const)('closes %s: nothing reaches the handler', async (_name, version, bytes, reason) => {
    const server = await startProxied({ proxyProtocol: version });
    expect(await expectRefused(server, bytes)).toMatchObject({ reason });
    expect(handled).toEqual([]);
  });

  it('closes a v2 header longer than maxProxyHeaderSize from its length field alone', async () => {
    const server = await startProxied({ maxProxyHeaderSize: 300 });
    const header = v2Header({ tlvs: [{ type: 0x05, value: Buffer.alloc(400) }] });
    // Only the fixed part is sent: the refusal does not wait for the 400 bytes it announces.
    expect(await expectRefused(server, header.subarray(0, 16))).toMatchObject({ reason: 'oversized' });
  });

  it('closes a client that ends halfway through its header (truncated)', async () => {
    const server = await startProxied();
    const header = v2Header({ addresses: v2Inet(['1.2.3.4', 5]) });
    const error = await expectRefused(server, header.subarray(0, 20), true);
    expect(error).toMatchObject({ reason: 'truncated' });
    expect(error.message).toMatch(/after 20 bytes/);
  });

  it('closes a client that sends no header within proxyHeaderTimeoutMs, and serves the next', async () => {
    const server = await startProxied({ proxyHeaderTimeoutMs: 100 });
    expect(await expectRefused(server, Buffer.from('PROXY TCP4'))).toMatchObject({ reason: 'timeout' });
    const next = await connect(server);
    next.write(v1Header(['192.0.2.9', 9]));
    expect(await addressLine(next)).toMatchObject({ host: '192.0.2.9' });
  });

  it('with proxyHeaderTimeoutMs: 0 (off), takes a header sent in two parts 300 ms apart', async () => {
    const server = await startProxied({ proxyHeaderTimeoutMs: 0 });
    const client = await connect(server);
    const header = v1Header(['192.0.2.30', 3030]);
    client.write(header.subarray(0, 10));
    await delay(300); // the slow proxy: the pause is what is tested
    expect(client.ended).toBe(false);
    expect(server.errors).toEqual([]);
    client.write(header.subarray(10));
    expect(await addressLine(client)).toMatchObject({ host: '192.0.2.30', port: 3030 });
  });

  it('with a small proxyHeaderTimeoutMs, closes that client before the second part', async () => {
    const server = await startProxied({ proxyHeaderTimeoutMs: 50 });
    const header = v1Header(['192.0.2.30', 3030]);
    const error = await expectRefused(server, header.subarray(0, 10));
    expect(error).toMatchObject({
      reason: 'timeout',
      message: 'PROXY protocol: no complete header within 50 ms',
    });
  });

  it('gives the handler the whole header with proxyHeaderOf: the destination and the v2 TLVs', async () => {
    const server = new ProxiedServer(['127.0.0.1', 0], HeaderHandler, { proxyProtocol: 'v2' });
    onTestFinished(() => server.serverClose());
    void server.serveForever().catch(() => {});
    await server.listening;
    const client = await connect(server);
    const tlvs = [
      { type: 0x02, value: Buffer.from('echo.example') },
      { type: 0x05, value: Buffer.from('request-42') },
    ];
    client.write(
      v2Header({ addresses: v2Inet(['203.0.113.7', 1], ['192.0.2.80', 20000]), tlvs, crc: 'right' }),
    );
    expect(await addressLine(client)).toEqual({
      version: 2,
      destination: { host: '192.0.2.80', port: 20000, family: 'IPv4' },
      tlvs: [
        [2, 'echo.example'],
        [5, 'request-42'],
        [3, expect.any(String)],
      ],
    });
  });

  it('refuses bad options at construction', () => {
    const make = (options: TCPServerOptions) => () =>
      new RecordingServer(['127.0.0.1', 0], AddressEchoHandler, { bindAndActivate: false, ...options });
    expect(make({ proxyProtocol: 'v3' as 'v1' })).toThrow(/invalid proxyProtocol: v3/);
    expect(make({ proxyProtocol: 'v1', proxyTrustedSources: ['10.0.0.0/33'] })).toThrow(
      /proxyTrustedSources/,
    );
    expect(make({ proxyProtocol: 'v1', proxyTrustedSources: ['localhost'] })).toThrow(/proxyTrustedSources/);
    expect(make({ proxyProtocol: 'v1', maxProxyHeaderSize: 100 })).toThrow(/maxProxyHeaderSize/);
    expect(make({ proxyProtocol: 'v1', proxyHeaderTimeoutMs: -1 })).toThrow(/proxyHeaderTimeoutMs/);
    expect(make({ proxyProtocol: 'v1', proxyHeaderTimeoutMs: Number.NaN })).toThrow(/proxyHeaderTimeoutMs/);
    expect(make({ proxyProtocol: 'v1', proxyHeaderTimeoutMs: 0 })().proxyProtocol?.headerTimeoutMs).toBe(
      undefined,
    );
  });

  it('serves the serial strategy one proxied connection at a time', async () => {
    const server = await startProxied({ strategy: serialStrategy() });
    for (const port of [1001, 1002, 1003]) {
      const client = await connect(server);
      client.write(Buffer.concat([v1Header(['192.0.2.1', port]), Buffer.from('x')]));
      expect(await addressLine(client)).toMatchObject({ port });
      client.end();
      expect((await client.readToEnd()).toString()).toBe('x');
    }
  });
});

/** A UnixStreamServer that records what `handleError` and `verifyRequest` receive. */
class UnixProxiedServer extends UnixStreamServer {
  readonly errors: { clientAddress: ClientAddress; error: unknown }[] = [];
  readonly verified: ClientAddress[] = [];
  readonly #events = new EventEmitter();

  override handleError(_request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.errors.push({ clientAddress, error });
    this.#events.emit('error-handled');
  }

  override verifyRequest(_request: Socket, clientAddress: ClientAddress): boolean {
    this.verified.push(clientAddress);
    return true;
  }

  async waitForErrors(count: number): Promise<{ clientAddress: ClientAddress; error: unknown }[]> {
    const signal = AbortSignal.timeout(5000);
    while (this.errors.length < count) await once(this.#events, 'error-handled', { signal });
    return this.errors;
  }
}

describe('a Unix stream server with proxyProtocol', () => {
  async function startUnix(
    path: string,
    options: { proxyTrustUnix?: boolean } = {},
  ): Promise<UnixProxiedServer> {
    const server = new UnixProxiedServer(path, AddressEchoHandler, {
      proxyProtocol: 'v2',
      strategy: eventLoopStrategy(),
      ...options,
    });
    onTestFinished(() => server.serverClose());
    void server.serveForever().catch(() => {});
    await server.listening;
    return server;
  }

  async function expectServed(path: string): Promise<void> {
    const client = await StreamClient.connect(path);
    client.write(Buffer.concat([v2Header({ addresses: v2Inet(['203.0.113.50', 6000]) }), Buffer.from('Hi')]));
    expect(await addressLine(client)).toEqual({ host: '203.0.113.50', port: 6000, family: 'IPv4' });
    expect((await client.read(2)).toString()).toBe('Hi');
    client.end();
    expect((await client.readToEnd()).toString()).toBe('');
  }

  /** Closed at accept, unread (the write may find it gone), reported once, counted; no handler. */
  async function expectUntrusted(server: UnixProxiedServer, path: string): Promise<void> {
    const client = await StreamClient.connect(path);
    client.write(Buffer.concat([v2Header({ addresses: v2Inet(['203.0.113.50', 6000]) }), Buffer.from('Hi')]));
    expect((await client.readToEnd()).toString()).toBe('');
    const [reported] = await server.waitForErrors(1);
    expect(reported?.error).toMatchObject({ code: 'ERR_PROXY_PROTOCOL', reason: 'untrusted' });
    expect((reported?.error as Error).message).toBe(
      'PROXY protocol: a Unix peer is not a trusted proxy (proxyTrustUnix)',
    );
    expect(server.stats().refused.proxyProtocol).toBe(1);
    expect(server.verified).toEqual([]);
    expect(handled).toEqual([]);
  }

  it('on a path: trusts its Unix peers by default and takes the original client from the header', async () => {
    const path = join(tempDir(), 'proxied.sock');
    const server = await startUnix(path);
    expect(server.proxyProtocol?.trustUnix).toBe(true);
    await expectServed(path);
  });

  it('on a path with proxyTrustUnix: false: refuses a Unix peer at accept', async () => {
    const path = join(tempDir(), 'refusing.sock');
    const server = await startUnix(path, { proxyTrustUnix: false });
    await expectUntrusted(server, path);
  });

  const abstractName = (): string =>
    `\0socketserver-pp-${process.pid}-${Math.random().toString(36).slice(2)}`;

  it.runIf(process.platform === 'linux')(
    'on an abstract name: refuses a Unix peer by default (no file mode protects it)',
    async () => {
      const name = abstractName();
      const server = await startUnix(name);
      expect(server.proxyProtocol?.trustUnix).toBe(false);
      await expectUntrusted(server, name);
    },
  );

  it.runIf(process.platform === 'linux')(
    'on an abstract name with proxyTrustUnix: true: takes the header',
    async () => {
      const name = abstractName();
      await startUnix(name, { proxyTrustUnix: true });
      await expectServed(name);
    },
  );

  it('refuses a proxyTrustUnix that is not a boolean at construction', () => {
    expect(
      () =>
        new UnixStreamServer(join(tempDir(), 'bad.sock'), AddressEchoHandler, {
          proxyProtocol: 'v1',
          proxyTrustUnix: 'yes' as unknown as boolean,
          bindAndActivate: false,
        }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });
});

describe('a TLS stream server with proxyProtocol', () => {
  let directory: string;
  let key: string;
  let cert: string;

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'proxy-tls-'));
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
        '-keyout',
        join(directory, 'key.pem'),
        '-out',
        join(directory, 'cert.pem'),
      ]),
      { stdio: 'ignore', timeout: 30_000 },
    );
    if (made.status !== 0) throw new Error('openssl could not make a test certificate');
    key = readFileSync(join(directory, 'key.pem'), 'utf8');
    cert = readFileSync(join(directory, 'cert.pem'), 'utf8');
  });

  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('gives proxyHeaderOf the TLS socket the handler gets', async () => {
    const server = new ProxiedServer(['127.0.0.1', 0], HeaderHandler, {
      proxyProtocol: 'v1',
      tls: { key, cert },
    });
    onTestFinished(() => server.serverClose());
    void server.serveForever().catch(() => {});
    await server.listening;
    const raw = await connect(server);
    raw.socket.removeAllListeners('data');
    raw.socket.write(v1Header(['203.0.113.9', 9], ['192.0.2.81', 443]));
    const secure = tls.connect({ socket: raw.socket, rejectUnauthorized: false, servername: 'localhost' });
    onTestFinished(() => void secure.destroy());
    const [line] = (await once(secure, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    expect(JSON.parse(line.toString())).toEqual({
      version: 1,
      destination: { host: '192.0.2.81', port: 443, family: 'IPv4' },
      tlvs: [],
    });
  });

  it('reads the header before the handshake, even when the ClientHello comes in the same read', async () => {
    const server = await startProxied({ tls: { key, cert } });
    // A TLS client over an in-memory pair, so its ClientHello can be written together with the header.
    const [clientSide, wireSide] = duplexPair();
    const secure = tls.connect({ socket: clientSide, rejectUnauthorized: false, servername: 'localhost' });
    onTestFinished(() => void secure.destroy());
    let line = '';
    secure.on('data', (chunk: Buffer) => (line += chunk.toString()));
    const [clientHello] = (await once(wireSide, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    const raw = await connect(server);
    raw.socket.removeAllListeners('data');
    raw.socket.write(Buffer.concat([v1Header(['203.0.113.8', 8443]), clientHello]));
    raw.socket.pipe(wireSide).pipe(raw.socket);
    await once(secure, 'secureConnect', { signal: AbortSignal.timeout(5000) });
    for (let count = 0; count < 100 && !line.includes('\n'); count += 1) {
      await once(secure, 'data', { signal: AbortSignal.timeout(5000) });
    }
    expect(JSON.parse(line.split('\n')[0] ?? '')).toEqual({
      host: '203.0.113.8',
      port: 8443,
      family: 'IPv4',
    });
    expect(server.errors).toEqual([]);
  });
});
