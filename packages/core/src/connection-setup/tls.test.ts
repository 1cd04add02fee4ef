import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { eventLoopStrategy } from '../strategy/event-loop-strategy.js';
import { makeCertificate } from '../test-support/certificate.js';
import { RecordingServer } from '../test-support/recording-server.js';
import { EchoHandler } from '../test-support/test-handlers.js';
import { resolveTLSOptions, type TLSOptions } from './tls.js';
import { UnixStreamServer } from '../servers/unix-stream-server.js';

let directory: string;
let key: string;
let cert: string;
/** A certificate nobody trusts, for a client. */
let intruder: { key: string; cert: string };

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'tls-'));
  ({ key, cert } = makeCertificate(directory, 'localhost'));
  intruder = makeCertificate(directory, 'intruder');
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** A TLS echo server on this thread, recording handleError; closed when the test ends. */
async function startTLSServer(tlsOptions: Partial<TLSOptions> = {}): Promise<RecordingServer> {
  const server = new RecordingServer(['127.0.0.1', 0], EchoHandler, {
    strategy: eventLoopStrategy(),
    tls: { key, cert, ...tlsOptions },
  });
  onTestFinished(() => server.serverClose());
  void server.serveForever().catch(() => {});
  await server.listening;
  return server;
}

/** A TLS client that trusts the test certificate, connected. */
async function connectTLS(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  const client = tls.connect({ host: '127.0.0.1', ca: cert, ...options });
  onTestFinished(() => void client.destroy());
  await once(client, 'secureConnect', { signal: AbortSignal.timeout(5000) });
  return client;
}

/**
 * A slow client: it connects over TCP and sends its ClientHello only after `holdMs`. Resolves with
 * `'closed'` if the server ended the connection before, else with the TLS socket once secure.
 */
async function connectWithLateClientHello(port: number, holdMs: number): Promise<tls.TLSSocket | 'closed'> {
  const raw = net.connect(port, '127.0.0.1');
  onTestFinished(() => void raw.destroy());
  raw.on('error', () => {}); // a reset is as good a close as any
  await once(raw, 'connect', { signal: AbortSignal.timeout(5000) });
  raw.resume(); // the server sends nothing before a ClientHello: only its EOF can come
  const holding = new AbortController();
  const held = await Promise.race([
    once(raw, 'end', { signal: holding.signal }).then(() => 'closed' as const),
    once(raw, 'close', { signal: holding.signal }).then(() => 'closed' as const),
    delay(holdMs, 'held' as const, { signal: holding.signal }),
  ]).finally(() => holding.abort());
  if (held === 'closed') return 'closed';
  raw.pause();
  const client = tls.connect({ socket: raw, ca: cert, servername: 'localhost' });
  onTestFinished(() => void client.destroy());
  await once(client, 'secureConnect', { signal: AbortSignal.timeout(5000) });
  return client;
}

async function echo(client: tls.TLSSocket, text: string): Promise<string> {
  client.write(text);
  const [data] = (await once(client, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
  return data.toString();
}

describe('a TLS stream server', () => {
  it('leaves the handler unchanged: it reads and writes the TLS socket', async () => {
    const server = await startTLSServer();
    const client = await connectTLS({ port: server.port });
    expect(await echo(client, 'Hello\n')).toBe('Hello\n');
    expect(client.getProtocol()).toMatch(/^TLSv1\.[23]$/);
    expect(server.errors).toEqual([]);
  });

  it('speaks ALPN', async () => {
    const server = await startTLSServer({ ALPNProtocols: ['echo', 'other'] });
    const client = await connectTLS({ port: server.port, ALPNProtocols: ['echo'] });
    expect(client.alpnProtocol).toBe('echo');
  });

  it('ends a handshake at once when the client half-closes before its ClientHello', async () => {
    // The TLS socket allows half-open connections; an EOF mid-handshake must still end it, or the
    // connection would hold its place until the handshake timeout.
    const server = await startTLSServer({ handshakeTimeoutMs: 60_000 });
    const quitter = net.connect(server.port, '127.0.0.1');
    quitter.on('error', () => {});
    onTestFinished(() => void quitter.destroy());
    await once(quitter, 'connect', { signal: AbortSignal.timeout(5000) });
    quitter.resume();
    quitter.end();
    const [reported] = await server.waitForErrors(1);
    expect(reported?.error).toMatchObject({
      code: 'ERR_TLS_HANDSHAKE',
      message: 'the client closed the connection during the TLS handshake',
    });
    await once(quitter, 'close', { signal: AbortSignal.timeout(5000) });
    expect(server.connectionCount).toBe(0);
  });

  it('closes a plain-TCP client and reports ERR_TLS_HANDSHAKE in one line; TLS clients are served on', async () => {
    const server = await startTLSServer();
    const plain = net.connect(server.port, '127.0.0.1');
    await once(plain, 'connect', { signal: AbortSignal.timeout(5000) });
    const { localPort } = plain;
    plain.end('Hello\n');
    plain.resume();
    await once(plain, 'close', { signal: AbortSignal.timeout(5000) });
    const [reported] = await server.waitForErrors(1);
    expect(reported?.error).toMatchObject({ code: 'ERR_TLS_HANDSHAKE' });
    expect((reported?.error as Error).message).toMatch(/^TLS handshake failed: [^\n]+$/);
    expect(reported?.clientAddress).toMatchObject({ host: '127.0.0.1', port: localPort });
    const client = await connectTLS({ port: server.port });
    expect(await echo(client, 'after\n')).toBe('after\n');
  });

  it('closes a client that never shakes hands, after handshakeTimeoutMs', async () => {
    const server = await startTLSServer({ handshakeTimeoutMs: 100 });
    const silent = net.connect(server.port, '127.0.0.1');
    onTestFinished(() => void silent.destroy());
    silent.resume();
    await once(silent, 'close', { signal: AbortSignal.timeout(5000) });
    const [reported] = await server.waitForErrors(1);
    expect((reported?.error as Error).message).toBe('no TLS handshake within 100 ms');
  });

  it('with handshakeTimeoutMs: 0 (off), serves a client that sends its ClientHello 300 ms late', async () => {
    const server = await startTLSServer({ handshakeTimeoutMs: 0 });
    const client = await connectWithLateClientHello(server.port, 300);
    if (client === 'closed') throw new Error('the server closed the connection before the ClientHello');
    expect(await echo(client, 'late\n')).toBe('late\n');
    expect(server.errors).toEqual([]);
  });

  it('with a small handshakeTimeoutMs, closes that late client before its ClientHello', async () => {
    const server = await startTLSServer({ handshakeTimeoutMs: 50 });
    expect(await connectWithLateClientHello(server.port, 5000)).toBe('closed');
    const [reported] = await server.waitForErrors(1);
    expect((reported?.error as Error).message).toBe('no TLS handshake within 50 ms');
  });

  it('with requestCert, refuses a client without a trusted certificate', async () => {
    const server = await startTLSServer({ requestCert: true, ca: cert });
    const client = tls.connect({ host: '127.0.0.1', port: server.port, ca: cert });
    onTestFinished(() => void client.destroy());
    // The server's refusal, as the client sees it: a TLS alert.
    const refusal = await new Promise<NodeJS.ErrnoException>((resolve) => client.once('error', resolve));
    expect(refusal.code).toMatch(/^ERR_SSL_/);
    const [reported] = await server.waitForErrors(1);
    expect(reported?.error).toMatchObject({ code: 'ERR_TLS_HANDSHAKE' });
    // An untrusted certificate: refused too (a standalone TLSSocket does not check it by itself).
    const untrusted = tls.connect({ host: '127.0.0.1', port: server.port, ca: cert, ...intruder });
    onTestFinished(() => void untrusted.destroy());
    await new Promise((resolve) => untrusted.once('error', resolve).once('close', resolve));
    const [, second] = await server.waitForErrors(2);
    expect((second?.error as Error).message).toMatch(/^TLS handshake failed: client certificate refused: /);
    // Its own certificate, trusted by the server's ca: served.
    const trusted = await connectTLS({ port: server.port, key, cert });
    expect(await echo(trusted, 'mutual\n')).toBe('mutual\n');
  });

  it('runs over a Unix stream socket too', async () => {
    const path = join(directory, 'tls.sock');
    const server = new UnixStreamServer(path, EchoHandler, {
      strategy: eventLoopStrategy(),
      tls: { key, cert },
    });
    onTestFinished(() => server.serverClose());
    void server.serveForever().catch(() => {});
    await server.listening;
    const client = tls.connect({ path, ca: cert, servername: 'localhost' });
    onTestFinished(() => void client.destroy());
    await once(client, 'secureConnect', { signal: AbortSignal.timeout(5000) });
    expect(await echo(client, 'unix\n')).toBe('unix\n');
    client.end(); // a clean close_notify, then EOF: the handler ends as it would over TCP
    await once(client, 'close', { signal: AbortSignal.timeout(5000) });
  });
});

describe('resolveTLSOptions', () => {
  it('takes PEM strings or Buffers, and keeps a structured-clonable form', () => {
    const settings = resolveTLSOptions({ key: Buffer.from(key), cert, ca: [cert], ALPNProtocols: ['echo'] });
    expect(settings).toEqual({
      key,
      cert,
      ca: [cert],
      requestCert: false,
      rejectUnauthorized: true,
      ALPNProtocols: ['echo'],
      handshakeTimeoutMs: 10_000,
    });
    expect(structuredClone(settings)).toEqual(settings);
  });

  it("a key that is not the certificate's is ERR_INVALID_OPTION, of the same type or another", () => {
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    expect(() => resolveTLSOptions({ key: ecKey, cert })).toThrow(
      "invalid tls.key: EC key (expected the private key of tls.cert's RSA certificate)",
    );
    expect(() => resolveTLSOptions({ key: intruder.key, cert })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  it('takes handshakeTimeoutMs: 0 as no timeout (undefined), across a structured clone too', () => {
    const settings = resolveTLSOptions({ key, cert, handshakeTimeoutMs: 0 });
    expect(settings.handshakeTimeoutMs).toBeUndefined();
    expect(structuredClone(settings).handshakeTimeoutMs).toBeUndefined();
    expect(resolveTLSOptions({ key, cert, handshakeTimeoutMs: 250 }).handshakeTimeoutMs).toBe(250);
  });

  it.each([
    ['an empty key', { key: '', cert: 'x' }],
    ['a key that is not PEM', { key: 'not a key', cert: 'not a cert' }],
    ['a bad handshake timeout', { handshakeTimeoutMs: -1 }],
  ])('%s is ERR_INVALID_OPTION', (_name, options) => {
    expect(() => resolveTLSOptions({ key, cert, ...options })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });
});
