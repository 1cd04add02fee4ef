import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import tls from 'node:tls';
import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  SocketServerError,
  UnixStreamServer,
  type ClientAddress,
  type RequestHandlerClass,
  type TCPServerOptions,
  type TLSOptions,
} from '@socketserver/core';
import {
  forking,
  ForkingUnixStreamServer,
  pool,
  threading,
  type WorkerKind,
  type WorkerPool,
} from '@socketserver/concurrency';
import { makeCertificate } from './test-support/certificate.js';
import { Recorder } from './test-support/datagram-servers.js';
import { isProcessAlive, RecordingServer, waitMs } from './test-support/recording-server.js';
import { randomLines } from './test-support/test-clients.js';
import { TLSEchoHandler } from './test-support/tls-echo-handler.js';

/** The file's temporary directory: the throw-away certificates and the Unix sockets. */
let directory: string;
/** The server's key and self-signed certificate (CN=localhost, SAN localhost and 127.0.0.1). */
let key: string;
let cert: string;
/** A second self-signed key and certificate, which the servers do not trust. */
let intruderKey: string;
let intruderCert: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'ssc-tls-'));
  ({ key, cert } = makeCertificate(directory, 'server', 'localhost'));
  ({ key: intruderKey, cert: intruderCert } = makeCertificate(directory, 'intruder', 'intruder'));
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** What the handler's `!tls` says of the socket it was given (see {@link TLSEchoHandler}). */
interface HandlerSocket {
  isTLSSocket: boolean;
  encrypted?: boolean;
  protocol?: string | null;
  alpnProtocol?: string | false | null;
  servername?: string | false | null;
}

/** A connected TLS client that reads lines, destroyed when the test finishes if still open. */
class TLSLineClient {
  readonly socket: tls.TLSSocket;
  /** The local port of the connection; 0 over a Unix socket. */
  readonly localPort: number;
  readonly #changes = new EventEmitter();
  #received = Buffer.alloc(0);
  #isEnded = false;

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
      this.#changes.emit('change');
    });
    socket.on('close', () => {
      this.#isEnded = true;
      this.#changes.emit('change');
    });
  }

  /** Connect with `options` (trusting the test certificate) and finish the handshake, within `waitMs`. */
  static async connect(options: tls.ConnectionOptions): Promise<TLSLineClient> {
    const socket = tls.connect({ ca: cert, ...options });
    onTestFinished(() => void socket.destroy());
    await once(socket, 'secureConnect', { signal: AbortSignal.timeout(waitMs) });
    return new TLSLineClient(socket);
  }

  /** Send `line` and its `\n`; resolve with the next line received, without its `\n`. */
  async ask(line: string): Promise<string> {
    this.socket.write(`${line}\n`);
    const signal = AbortSignal.timeout(waitMs);
    for (;;) {
      const end = this.#received.indexOf(0x0a);
      if (end >= 0) {
        const answer = this.#received.subarray(0, end).toString();
        this.#received = this.#received.subarray(end + 1);
        return answer;
      }
      if (this.#isEnded) throw new Error(`the connection closed before an answer to ${line}`);
      await once(this.#changes, 'change', { signal });
    }
  }

  /** Send `data`, end the TLS session (close_notify, then FIN), and resolve with all received until the server closed. */
  async sendAndEnd(data: Buffer): Promise<Buffer> {
    this.socket.end(data);
    const signal = AbortSignal.timeout(waitMs);
    while (!this.#isEnded) await once(this.#changes, 'change', { signal });
    return this.#received;
  }
}

/** Connect with plain TCP to `target`, send `Hello\n`, and resolve with the local port once the server closed it. */
async function plainHello(target: { port: number; host: string } | { path: string }): Promise<number> {
  const socket = net.connect(target);
  onTestFinished(() => void socket.destroy());
  socket.on('error', () => {}); // a reset is as good a close as any
  const signal = AbortSignal.timeout(waitMs);
  await once(socket, 'connect', { signal });
  const localPort = socket.localPort ?? 0;
  socket.write('Hello\n');
  socket.resume();
  await once(socket, 'close', { signal });
  return localPort;
}

/** Open a TLS client with `options` that the server is expected to refuse; resolves with its local port and the error it saw. */
async function refusedTLSClient(
  options: tls.ConnectionOptions,
): Promise<{ localPort: number; refusal: NodeJS.ErrnoException }> {
  const socket = tls.connect({ ca: cert, ...options });
  onTestFinished(() => void socket.destroy());
  const signal = AbortSignal.timeout(waitMs);
  await once(socket, 'connect', { signal });
  const localPort = socket.localPort ?? 0;
  const [refusal] = (await once(socket, 'error', { signal })) as [NodeJS.ErrnoException];
  return { localPort, refusal };
}

/** Check that `worker` (`<pid> <threadId>` from `!whoami`) is a worker of `kind` that `startedWorkerIds` saw start. */
function expectWorker(worker: string, kind: WorkerKind, startedWorkerIds: readonly number[]): void {
  const [pid, workerThreadId] = worker.split(' ').map(Number);
  expect(worker).not.toBe(`${process.pid} ${threadId}`);
  if (kind === 'thread') {
    expect(pid).toBe(process.pid);
    expect(workerThreadId).not.toBe(threadId);
    expect(startedWorkerIds).toContain(workerThreadId);
  } else {
    expect(pid).not.toBe(process.pid);
    expect(startedWorkerIds).toContain(pid);
  }
}

/** The errors `server` recorded for the TCP client on `port`. */
function errorsOf(server: RecordingServer, port: number): unknown[] {
  return server.errors
    .filter(({ clientAddress }) => clientAddress.family !== 'Unix' && clientAddress.port === port)
    .map(({ error }) => error);
}

/** Resolves with the one error `server` recorded for the TCP client on `port`, once its request ended. */
async function reportedErrorOf(server: RecordingServer, port: number): Promise<unknown> {
  await server.waitUntil(() => errorsOf(server, port).length > 0);
  await server.waitForRequestEnd(port);
  const errors = errorsOf(server, port);
  expect(errors).toHaveLength(1);
  return errors[0];
}

/**
 * A {@link RecordingServer} serving {@link TLSEchoHandler} over TLS, started before the tests of a
 * describe block and closed after them: `get()` is the server. After closing, it checks that every
 * worker is gone and that nothing but handshake failures reached the server's error hooks.
 */
function sharedServer(
  create: () => WorkerPool,
  tlsOptions: () => Partial<TLSOptions> = () => ({}),
): () => RecordingServer {
  let server: RecordingServer | undefined;
  let serving: Promise<void> | undefined;
  beforeAll(() => {
    const options: TCPServerOptions = { tls: { key, cert, ...tlsOptions() } };
    server = new RecordingServer(create(), options, TLSEchoHandler);
    serving = server.serveForever();
    serving.catch(() => {});
  });
  afterAll(async () => {
    if (server === undefined) return;
    await server.serverClose();
    await serving;
    expect(server.strategy.workerCount).toBe(0);
    expect(server.exitedWorkerIds.toSorted()).toEqual(server.startedWorkerIds.toSorted());
    if (server.strategy.kind === 'process') {
      expect(server.startedWorkerIds.filter(isProcessAlive)).toEqual([]);
    }
    expect(server.serverErrors).toEqual([]);
    for (const { error } of server.errors) expect(error).toMatchObject({ code: 'ERR_TLS_HANDSHAKE' });
  });
  return () => {
    if (server === undefined) throw new Error('the shared server did not start');
    return server;
  };
}

const strategies: { label: string; kind: WorkerKind; create: () => WorkerPool }[] = [
  { label: 'threading()', kind: 'thread', create: () => threading() },
  { label: 'forking()', kind: 'process', create: () => forking() },
  { label: "pool({ kind: 'thread' })", kind: 'thread', create: () => pool({ workers: 2, kind: 'thread' }) },
  {
    label: "pool({ kind: 'process' })",
    kind: 'process',
    create: () => pool({ workers: 2, kind: 'process' }),
  },
];

describe.each(strategies)('TLS on a TCPServer with $label', ({ kind, create }) => {
  const server = sharedServer(create, () => ({ ALPNProtocols: ['echo'] }));

  it('echoes over TLS, the handshake and the handler in a worker, which holds the TLS socket', async () => {
    const client = await TLSLineClient.connect({ host: '127.0.0.1', port: server().port });
    expect(client.socket.authorized).toBe(true);
    expect(client.socket.getProtocol()).toMatch(/^TLSv1\.[23]$/);
    expect(client.socket.getPeerX509Certificate()?.subject).toBe('CN=localhost');

    expect(await client.ask('Hello over TLS')).toBe('Hello over TLS');
    expectWorker(await client.ask('!whoami'), kind, server().startedWorkerIds);
    // The handler's socket is the TLS one, made in the worker: the session lives there.
    expect(JSON.parse(await client.ask('!tls'))).toEqual({
      isTLSSocket: true,
      encrypted: true,
      protocol: client.socket.getProtocol(),
      alpnProtocol: false,
      servername: false, // no SNI for an IP address
    });
    expect(JSON.parse(await client.ask('!address'))).toEqual({
      host: '127.0.0.1',
      port: client.localPort,
      family: 'IPv4',
    });
    expect(await client.ask('still here')).toBe('still here');

    expect((await client.sendAndEnd(Buffer.alloc(0))).length).toBe(0);
    await server().waitForRequestEnd(client.localPort);
    expect(errorsOf(server(), client.localPort)).toEqual([]);
  });

  it('echoes 256 KiB of random lines byte-exact, then ends cleanly when the client ends its TLS session', async () => {
    const client = await TLSLineClient.connect({ host: '127.0.0.1', port: server().port });
    const data = randomLines(256 * 1024);
    expect((await client.sendAndEnd(data)).equals(data)).toBe(true);
    await server().waitForRequestEnd(client.localPort);
    expect(errorsOf(server(), client.localPort)).toEqual([]);
  });

  it('closes a plain-TCP client and reports ERR_TLS_HANDSHAKE with its address; TLS clients are served after', async () => {
    const plainPort = await plainHello({ host: '127.0.0.1', port: server().port });
    const reported = await reportedErrorOf(server(), plainPort);
    // Reported by the worker, across the boundary: a SocketServerError with the original name and code.
    expect(reported).toBeInstanceOf(SocketServerError);
    expect(reported).toMatchObject({
      name: 'TLSHandshakeError',
      code: 'ERR_TLS_HANDSHAKE',
      message: expect.stringMatching(/^TLS handshake failed: [^\n]+$/) as unknown,
    });
    expect(server().errors.find(({ error }) => error === reported)?.clientAddress).toEqual({
      host: '127.0.0.1',
      port: plainPort,
      family: 'IPv4',
    });

    const client = await TLSLineClient.connect({ host: '127.0.0.1', port: server().port });
    expect(await client.ask('served after')).toBe('served after');
    expectWorker(await client.ask('!whoami'), kind, server().startedWorkerIds);
  });

  it('negotiates ALPN in the worker, and refuses a client offering none of its protocols', async () => {
    const client = await TLSLineClient.connect({
      host: '127.0.0.1',
      port: server().port,
      ALPNProtocols: ['other', 'echo'],
    });
    expect(client.socket.alpnProtocol).toBe('echo');
    expect((JSON.parse(await client.ask('!tls')) as HandlerSocket).alpnProtocol).toBe('echo');
    expect(await client.ask('Hello, echo')).toBe('Hello, echo');

    const { localPort, refusal } = await refusedTLSClient({
      host: '127.0.0.1',
      port: server().port,
      ALPNProtocols: ['h2'],
    });
    expect(refusal.code).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
    const reported = await reportedErrorOf(server(), localPort);
    expect(reported).toMatchObject({
      code: 'ERR_TLS_HANDSHAKE',
      message: expect.stringContaining('no application protocol') as unknown,
    });
  });
});

describe("client certificates, checked in the worker: pool({ kind: 'process' }) with requestCert", () => {
  const server = sharedServer(
    () => pool({ workers: 2, kind: 'process' }),
    () => ({
      requestCert: true,
      ca: [cert],
    }),
  );

  it('serves a client whose certificate the server trusts', async () => {
    const client = await TLSLineClient.connect({ host: '127.0.0.1', port: server().port, key, cert });
    expect(await client.ask('mutual')).toBe('mutual');
    expectWorker(await client.ask('!whoami'), 'process', server().startedWorkerIds);
  });

  it('refuses a client without a certificate and reports ERR_TLS_HANDSHAKE', async () => {
    const { localPort, refusal } = await refusedTLSClient({ host: '127.0.0.1', port: server().port });
    expect(refusal.code).toMatch(/^ERR_SSL_/);
    const reported = await reportedErrorOf(server(), localPort);
    expect(reported).toMatchObject({ code: 'ERR_TLS_HANDSHAKE' });
  });

  // A standalone server-side tls.TLSSocket does not check the client's certificate (Node does that
  // in tls.Server only): tlsUpgrade does, so an untrusted one is refused.
  it('refuses a client whose certificate the server does not trust, and reports ERR_TLS_HANDSHAKE', async () => {
    const port = server().port;
    const intruder = tls.connect({
      host: '127.0.0.1',
      port,
      ca: cert,
      key: intruderKey,
      cert: intruderCert,
    });
    onTestFinished(() => void intruder.destroy());
    intruder.on('error', () => {}); // the refusal may come as an alert, after secureConnect with TLS 1.3
    const signal = AbortSignal.timeout(waitMs);
    await once(intruder, 'secureConnect', { signal });
    const { localPort = 0 } = intruder;
    intruder.write('let me in\n');
    // Served, it reads its echo; refused, it is closed without one.
    const outcome = await Promise.race([
      once(intruder, 'data', { signal }).then(() => 'served'),
      once(intruder, 'close', { signal }).then(() => 'refused'),
    ]);
    expect(outcome).toBe('refused');
    expect(await reportedErrorOf(server(), localPort)).toMatchObject({ code: 'ERR_TLS_HANDSHAKE' });
  });
});

describe("the handshake timeout, in the worker: pool({ kind: 'thread' }) with handshakeTimeoutMs", () => {
  const server = sharedServer(
    () => pool({ workers: 1, kind: 'thread' }),
    () => ({
      handshakeTimeoutMs: 300,
    }),
  );

  it('closes a client that never starts the handshake and reports ERR_TLS_HANDSHAKE; the worker serves on', async () => {
    const silent = net.connect({ host: '127.0.0.1', port: server().port });
    onTestFinished(() => void silent.destroy());
    silent.on('error', () => {});
    const signal = AbortSignal.timeout(waitMs);
    await once(silent, 'connect', { signal });
    const { localPort = 0 } = silent;
    silent.resume();
    await once(silent, 'close', { signal });
    expect(await reportedErrorOf(server(), localPort)).toMatchObject({
      code: 'ERR_TLS_HANDSHAKE',
      message: 'no TLS handshake within 300 ms',
    });
    const client = await TLSLineClient.connect({ host: '127.0.0.1', port: server().port });
    expect(await client.ask('in time')).toBe('in time');
    expect(server().startedWorkerIds).toHaveLength(1);
  });
});

describe("handshakeTimeoutMs: 0 turns the timeout off in the worker too: pool({ kind: 'thread' })", () => {
  const server = sharedServer(
    () => pool({ workers: 1, kind: 'thread' }),
    () => ({ handshakeTimeoutMs: 0 }),
  );

  it('serves a client that sends its ClientHello 300 ms late', async () => {
    const raw = net.connect({ host: '127.0.0.1', port: server().port });
    onTestFinished(() => void raw.destroy());
    raw.on('error', () => {});
    const signal = AbortSignal.timeout(waitMs);
    await once(raw, 'connect', { signal });
    raw.resume(); // nothing comes before a ClientHello but the server's EOF
    const holding = new AbortController();
    const held = await Promise.race([
      once(raw, 'end', { signal: holding.signal }).then(() => 'closed'),
      delay(300, 'held', { signal: holding.signal }), // the slow client: the pause is what is tested
    ]).finally(() => holding.abort());
    expect(held).toBe('held');
    raw.pause();
    const client = tls.connect({ socket: raw, ca: cert, servername: 'localhost' });
    onTestFinished(() => void client.destroy());
    await once(client, 'secureConnect', { signal });
    client.write('late\n');
    const [answer] = (await once(client, 'data', { signal })) as [Buffer];
    expect(answer.toString()).toBe('late\n');
    expect(server().errors).toEqual([]);
  });
});

/** A Unix stream server recording what reaches its error hooks. */
interface RecordingUnixServer extends UnixStreamServer {
  readonly strategy: WorkerPool;
  readonly recorder: Recorder<net.Socket>;
}

class RecordingForkingUnixStreamServer extends ForkingUnixStreamServer implements RecordingUnixServer {
  readonly recorder = new Recorder<net.Socket>(this.strategy);

  override handleError(request: net.Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.recorder.error(request, clientAddress, error);
  }

  override handleServerError(error: unknown): void {
    this.recorder.serverError(error);
  }
}

class RecordingUnixStreamServer extends UnixStreamServer implements RecordingUnixServer {
  declare readonly strategy: WorkerPool;
  readonly recorder: Recorder<net.Socket>;

  constructor(path: string, strategy: WorkerPool, Handler: RequestHandlerClass, tlsOptions: TLSOptions) {
    super(path, Handler, { strategy, tls: tlsOptions });
    this.recorder = new Recorder(strategy);
  }

  override handleError(request: net.Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.recorder.error(request, clientAddress, error);
  }

  override handleServerError(error: unknown): void {
    this.recorder.serverError(error);
  }
}

describe.each([
  {
    label: 'ForkingUnixStreamServer',
    create: (path: string): RecordingUnixServer =>
      new RecordingForkingUnixStreamServer(path, TLSEchoHandler, { tls: { key, cert } }),
  },
  {
    label: "UnixStreamServer with pool({ kind: 'process' })",
    create: (path: string): RecordingUnixServer =>
      new RecordingUnixStreamServer(path, pool({ workers: 2, kind: 'process' }), TLSEchoHandler, {
        key,
        cert,
      }),
  },
])('TLS on a $label', ({ label, create }) => {
  it('echoes a TLS client in a child process, and closes a plain one with ERR_TLS_HANDSHAKE', async () => {
    const path = join(directory, `${label.startsWith('Forking') ? 'forking' : 'pool'}.sock`);
    const server = create(path);
    const serving = server.serveForever();
    serving.catch(() => {});
    try {
      const client = await TLSLineClient.connect({ path, servername: 'localhost' });
      expect(client.socket.authorized).toBe(true);
      expect(await client.ask('Hello over a Unix socket')).toBe('Hello over a Unix socket');
      expectWorker(await client.ask('!whoami'), 'process', server.recorder.startedWorkerIds);
      expect(JSON.parse(await client.ask('!tls'))).toMatchObject({
        isTLSSocket: true,
        encrypted: true,
        servername: 'localhost',
      });
      expect(JSON.parse(await client.ask('!address'))).toEqual({ family: 'Unix', path: '' });
      const data = randomLines(64 * 1024);
      expect((await client.sendAndEnd(data)).equals(data)).toBe(true);

      await plainHello({ path });
      await server.recorder.waitUntil(() => server.recorder.errors.length >= 1);
      expect(server.recorder.errors).toEqual([
        {
          request: expect.any(net.Socket) as unknown,
          clientAddress: { family: 'Unix', path: '' },
          error: expect.objectContaining({ code: 'ERR_TLS_HANDSHAKE' }) as unknown,
        },
      ]);

      const after = await TLSLineClient.connect({ path, servername: 'localhost' });
      expect(await after.ask('served after')).toBe('served after');
      expect(server.recorder.serverErrors).toEqual([]);
    } finally {
      await server.serverClose();
      await serving;
    }
    expect(server.strategy.workerCount).toBe(0);
    expect(server.recorder.startedWorkerIds.filter(isProcessAlive)).toEqual([]);
  });
});
