import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { formatClientAddress, type ClientAddress } from '../support/client-address.js';
import type { DatagramRequest } from './datagram-socket.js';
import { BindError, DatagramTruncatedError } from '../support/errors.js';
import { eventLoopStrategy } from '../strategy/event-loop-strategy.js';
import type { RequestHandlerClass } from '../request/request-handler.js';
import { serialStrategy } from '../strategy/serial-strategy.js';
import { maxUnixPathLength } from '../platform/server-address.js';
import {
  unwritableSocketPath,
  DatagramEchoHandler,
  DatagramHandler,
  ErrorLog,
  leaveStaleDatagramSocket,
  leaveStaleStreamSocket,
  roundTrip,
  tempDir,
  UnixDgramClient,
  within,
} from '../test-support/socket-helpers.js';
import { deferred } from '../test-support/recording-server.js';
import { EchoHandler } from '../test-support/test-handlers.js';
import { UnixDatagramServer, type UnixDatagramServerOptions } from './unix-datagram-server.js';
import { UnixStreamServer } from './unix-stream-server.js';

/** A UnixDatagramServer that records what `handleError` receives instead of printing it. */
class RecordingUnixDatagramServer extends UnixDatagramServer {
  readonly log: ErrorLog = new ErrorLog();

  override handleError(
    _request: DatagramRequest | undefined,
    clientAddress: ClientAddress,
    error: unknown,
  ): void {
    this.log.record(clientAddress, error);
  }
}

/** Start a server on `path` serving forever, once bound; closed when the test finishes. */
async function startServer(
  path: string,
  Handler: RequestHandlerClass<DatagramRequest> = DatagramEchoHandler,
  options: UnixDatagramServerOptions = {},
): Promise<{ server: RecordingUnixDatagramServer; serving: Promise<void> }> {
  const server = new RecordingUnixDatagramServer(path, Handler, options);
  onTestFinished(() => server.serverClose());
  await server.listening;
  const serving = server.serveForever();
  serving.catch(() => {});
  return { server, serving };
}

function isSocketFile(path: string): boolean {
  return existsSync(path) && lstatSync(path).isSocket();
}

describe('UnixDatagramServer: requests', () => {
  it("answers a bound client from the server's path; clientAddress is the client's path", async () => {
    const seen: ClientAddress[] = [];
    class Probe extends DatagramEchoHandler {
      override setup(): void {
        seen.push(this.clientAddress);
      }
    }
    const dir = tempDir();
    const path = join(dir, 's.sock');
    const { server } = await startServer(path, Probe);
    expect(server.serverAddress).toBe(path);
    expect(isSocketFile(path)).toBe(true);
    const clientPath = join(dir, 'c.sock');
    const client = new UnixDgramClient(clientPath);
    expect(await client.request('Hello', path)).toEqual({ data: Buffer.from('Hello'), from: path });
    expect(seen).toEqual([{ family: 'Unix', path: clientPath }]);
    expect(formatClientAddress(seen[0] as ClientAddress)).toBe(`'${clientPath}'`);
    expect(server.log.entries).toEqual([]);
  });

  it("an unbound sender is seen as '' and cannot be answered: ERR_SEND_FAILED to handleError; the server serves on", async () => {
    const seen: ClientAddress[] = [];
    class Probe extends DatagramEchoHandler {
      override setup(): void {
        seen.push(this.clientAddress);
      }
    }
    const dir = tempDir();
    const path = join(dir, 's.sock');
    const { server } = await startServer(path, Probe, { strategy: serialStrategy() });
    const unbound = new UnixDgramClient();
    await unbound.send('who am I', path);
    const [entry] = await server.log.waitFor(1);
    expect(entry?.clientAddress).toEqual({ family: 'Unix', path: '' });
    expect(formatClientAddress(entry?.clientAddress as ClientAddress)).toBe("''");
    expect(entry?.error).toMatchObject({
      code: 'ERR_SEND_FAILED',
      message: expect.stringContaining('unnamed Unix peer') as string,
    });
    expect(seen).toEqual([{ family: 'Unix', path: '' }]);
    const bound = new UnixDgramClient(join(dir, 'c.sock'));
    expect((await bound.request('next', path)).data.toString()).toBe('next');
    expect(unbound.inbox.size).toBe(0);
    expect(server.log.entries).toHaveLength(1);
  });

  it('a reply to a socket that is gone is ERR_SEND_FAILED, and the server serves on', async () => {
    const dir = tempDir();
    const gone = join(dir, 'gone.sock');
    leaveStaleDatagramSocket(gone);
    class ToGone extends DatagramHandler {
      override async handle(): Promise<void> {
        const target = this.data.toString() === 'to gone' ? gone : this.clientAddress;
        await this.request[1].sendTo(this.data, target);
      }
    }
    const path = join(dir, 's.sock');
    const { server } = await startServer(path, ToGone, { strategy: serialStrategy() });
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    await client.send('to gone', path);
    const [entry] = await server.log.waitFor(1);
    expect(entry?.error).toMatchObject({
      code: 'ERR_SEND_FAILED',
      message: expect.stringContaining(gone) as string,
    });
    expect(entry?.clientAddress).toEqual({ family: 'Unix', path: client.path });
    expect((await client.request('back to me', path)).data.toString()).toBe('back to me');
  });

  it('sendTo an IP address from a Unix datagram handler is ERR_SEND_FAILED', async () => {
    class BadDestinations extends DatagramHandler {
      override async handle(): Promise<void> {
        const [, socket] = this.request;
        const outcomes = await Promise.allSettled([
          socket.sendTo('x', ['127.0.0.1', 9]),
          socket.sendTo('x', { host: '127.0.0.1', port: 9, family: 'IPv4' }),
          socket.sendTo('x', ''),
        ]);
        const codes = outcomes.map((outcome) =>
          outcome.status === 'rejected' ? String((outcome.reason as { code?: unknown }).code) : 'sent',
        );
        await socket.sendTo(codes.join(','), this.clientAddress);
      }
    }
    const dir = tempDir();
    const path = join(dir, 's.sock');
    await startServer(path, BadDestinations);
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    const reply = await client.request('go', path);
    expect(reply.data.toString().split(',')).toEqual(Array(3).fill('ERR_SEND_FAILED'));
  });

  it.each([
    ['eventLoopStrategy', eventLoopStrategy<DatagramRequest>],
    ['serialStrategy', serialStrategy<DatagramRequest>],
  ] as const)(
    '1,000 datagrams from 10 bound clients are each answered to their sender (%s)',
    async (_name, strategy) => {
      const dir = tempDir();
      const path = join(dir, 's.sock');
      const { server } = await startServer(path, DatagramEchoHandler, { strategy: strategy() });
      const clients = Array.from({ length: 10 }, (_, c) => new UnixDgramClient(join(dir, `c${c}.sock`)));
      const perClient = 100;
      // Each client paced: the next datagram after the answer to the previous.
      const received = await Promise.all(
        clients.map(async (client, c) => {
          const answers: string[] = [];
          for (let seq = 0; seq < perClient; seq += 1) {
            const reply = await client.request(`client ${c} seq ${seq}`, path);
            expect(reply.from).toBe(path);
            answers.push(reply.data.toString());
          }
          return answers;
        }),
      );
      received.forEach((answers, c) => {
        expect(answers).toEqual(Array.from({ length: perClient }, (_, seq) => `client ${c} seq ${seq}`));
      });
      for (const client of clients) expect(client.inbox.size).toBe(0);
      expect(server.log.entries).toEqual([]);
      expect(server.droppedDatagrams).toBe(0);
    },
  );

  it('a 9000-byte datagram: the handler gets its first 8192 bytes, handleError ERR_DATAGRAM_TRUNCATED, then the server serves on', async () => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    const { server } = await startServer(path);
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    const big = randomBytes(9000);
    const reply = await client.request(big, path);
    expect(reply.data.equals(big.subarray(0, 8192))).toBe(true);
    const [entry] = await server.log.waitFor(1);
    expect(entry?.error).toBeInstanceOf(DatagramTruncatedError);
    expect(entry?.error).toMatchObject({ code: 'ERR_DATAGRAM_TRUNCATED', size: 9000, maxPacketSize: 8192 });
    expect(entry?.clientAddress).toEqual({ family: 'Unix', path: client.path });
    expect(server.truncatedDatagrams).toBe(1);
    expect((await client.request('next', path)).data.toString()).toBe('next');
    expect(server.log.entries).toHaveLength(1);
  });

  it('a custom maxPacketSize cuts at its size', async () => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    const { server } = await startServer(path, DatagramEchoHandler, { maxPacketSize: 100 });
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    const long = randomBytes(150);
    expect((await client.request(long, path)).data.equals(long.subarray(0, 100))).toBe(true);
    const [entry] = await server.log.waitFor(1);
    expect(entry?.error).toMatchObject({ code: 'ERR_DATAGRAM_TRUNCATED', size: 150, maxPacketSize: 100 });
  });
});

describe('UnixDatagramServer: the socket path', () => {
  it('a stale socket file left by a closed datagram socket is removed and the path reused', async () => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    leaveStaleDatagramSocket(path);
    expect(isSocketFile(path)).toBe(true);
    await startServer(path);
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    expect((await client.request('reused', path)).data.toString()).toBe('reused');
  });

  it('a stale socket file left by a killed stream server is reused too', async () => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    await leaveStaleStreamSocket(path);
    expect(isSocketFile(path)).toBe(true);
    await startServer(path);
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    expect((await client.request('reused', path)).data.toString()).toBe('reused');
  });

  it('a live datagram server keeps its path: ERR_ADDRESS_IN_USE naming the path, and it serves on', async () => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    await startServer(path);
    const second = new UnixDatagramServer(path, DatagramEchoHandler);
    onTestFinished(() => second.serverClose());
    const failure = await second.listening.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BindError);
    expect(failure).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', path });
    expect((failure as Error).message).toBe(
      `cannot listen on ${path}: address already in use (a live server owns it)`,
    );
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    expect(await client.request('still mine', path)).toEqual({ data: Buffer.from('still mine'), from: path });
  });

  it('a live stream server keeps its path from a datagram server, and serves on', async () => {
    const path = join(tempDir(), 's.sock');
    const owner = new UnixStreamServer(path, EchoHandler, { strategy: eventLoopStrategy() });
    onTestFinished(() => owner.serverClose());
    void owner.serveForever();
    const second = new UnixDatagramServer(path, DatagramEchoHandler);
    onTestFinished(() => second.serverClose());
    const failure = await second.listening.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BindError);
    expect(failure).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', path });
    expect((failure as Error).message).toContain(`${path}: address already in use (a live server owns it)`);
    expect((await roundTrip(path, Buffer.from('still mine'))).toString()).toBe('still mine');
  });

  it('a regular file at the path is a BindError saying it is not a socket, and is left untouched', async () => {
    const path = join(tempDir(), 'not-a-socket');
    writeFileSync(path, 'precious data');
    const server = new UnixDatagramServer(path, DatagramEchoHandler);
    onTestFinished(() => server.serverClose());
    const failure = await server.listening.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BindError);
    expect((failure as Error).message).toBe(
      `cannot listen on ${path}: address already in use (the path exists and is not a socket)`,
    );
    expect(readFileSync(path, 'utf8')).toBe('precious data');
  });

  it('the socket file is removed by serverClose(), by shutdown(), and when only bound', async () => {
    const dir = tempDir();
    const closed = await startServer(join(dir, 'closed.sock'));
    await closed.server.serverClose();
    await closed.serving;
    expect(existsSync(join(dir, 'closed.sock'))).toBe(false);

    const shut = await startServer(join(dir, 'shut.sock'));
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    expect((await client.request('x', join(dir, 'shut.sock'))).data.toString()).toBe('x');
    await shut.server.shutdown();
    await shut.serving;
    expect(existsSync(join(dir, 'shut.sock'))).toBe(false);

    const boundOnly = new UnixDatagramServer(join(dir, 'bound.sock'), DatagramEchoHandler, {
      bindAndActivate: false,
    });
    onTestFinished(() => boundOnly.serverClose());
    expect(existsSync(join(dir, 'bound.sock'))).toBe(false);
    await boundOnly.serverBind();
    expect(isSocketFile(join(dir, 'bound.sock'))).toBe(true);
    await boundOnly.serverClose();
    expect(existsSync(join(dir, 'bound.sock'))).toBe(false);
    expect(readdirSync(dir)).toEqual(['c.sock']);
  });

  it.each([0o600, 0o660])('mode 0o%o is applied to the socket file', async (mode) => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    const { server } = await startServer(path, DatagramEchoHandler, { mode });
    expect(server.mode).toBe(mode);
    expect(statSync(path).mode & 0o777).toBe(mode);
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    expect((await client.request('x', path)).data.toString()).toBe('x');
  });

  it.each([-1, 0o1000, 1.5])('mode %s is ERR_INVALID_OPTION at construction', (mode) => {
    const dir = tempDir();
    expect(() => new UnixDatagramServer(join(dir, 's.sock'), DatagramEchoHandler, { mode })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringContaining('mode') as string,
      }),
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('mode with an abstract name is ERR_INVALID_OPTION', () => {
    expect(
      () => new UnixDatagramServer(`\0ss-${randomUUID()}`, DatagramEchoHandler, { mode: 0o600 }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  it('a path longer than sockaddr_un holds is ERR_INVALID_OPTION at construction; empty and NUL paths too', () => {
    const dir = tempDir();
    const tooLong = join(dir, 'x'.repeat(maxUnixPathLength - dir.length));
    expect(Buffer.byteLength(tooLong)).toBe(maxUnixPathLength + 1);
    expect(() => new UnixDatagramServer(tooLong, DatagramEchoHandler)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringContaining(`at most ${maxUnixPathLength} bytes`) as string,
      }),
    );
    for (const path of ['', join(dir, 'a\0b')]) {
      expect(() => new UnixDatagramServer(path, DatagramEchoHandler)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      );
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a path of exactly the limit binds and serves', async () => {
    const dir = tempDir();
    const path = join(dir, 'x'.repeat(maxUnixPathLength - dir.length - 1));
    expect(Buffer.byteLength(path)).toBe(maxUnixPathLength);
    await startServer(path);
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    expect(await client.request('long', path)).toEqual({ data: Buffer.from('long'), from: path });
  });

  it('a directory the process may not write is ERR_PERMISSION_DENIED naming the path', async () => {
    const { path, reason } = unwritableSocketPath(tempDir());
    const server = new UnixDatagramServer(path, DatagramEchoHandler);
    onTestFinished(() => server.serverClose());
    const failure = await server.listening.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BindError);
    expect(failure).toMatchObject({ code: 'ERR_PERMISSION_DENIED', path });
    expect((failure as Error).message).toMatch(new RegExp(`^cannot listen on ${path}: ${reason.source}`));
    expect(existsSync(path)).toBe(false);
  });
});

describe.skipIf(process.platform !== 'linux')('UnixDatagramServer: Linux abstract names', () => {
  // Exposes a bug: node-unix-socket pads an abstract name with NUL bytes to the whole of sun_path
  // (108 bytes), so the server is bound to '\0name\0\0…', not '\0name': only node-unix-socket peers
  // (which pad alike) reach it; one that addresses the name exactly (Python, socat, Go, C) gets
  // ECONNREFUSED. Either fix passes: bind the name exactly, or refuse it (ERR_UNSUPPORTED_OPTION).
  it('an abstract name is bound exactly as given and served, or refused with ERR_UNSUPPORTED_OPTION', async () => {
    const name = `ss-${randomUUID()}`;
    let server: RecordingUnixDatagramServer;
    try {
      server = new RecordingUnixDatagramServer(`\0${name}`, DatagramEchoHandler);
    } catch (error) {
      expect(error).toMatchObject({ code: 'ERR_UNSUPPORTED_OPTION' });
      return;
    }
    onTestFinished(() => server.serverClose());
    await server.listening;
    void server.serveForever();
    const dir = tempDir();
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    expect((await client.request('abstract', `\0${name}`)).data.toString()).toBe('abstract');
    expect(readdirSync(dir)).toEqual(['c.sock']);

    const second = new UnixDatagramServer(`\0${name}`, DatagramEchoHandler);
    onTestFinished(() => second.serverClose());
    await expect(second.listening).rejects.toMatchObject({
      code: 'ERR_ADDRESS_IN_USE',
      message: `cannot listen on @${name}: address already in use (a live server owns it)`,
    });
    expect((await client.request('still', `\0${name}`)).data.toString()).toBe('still');

    const listed = readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .filter((line) => line.includes(`@${name}`))
      .map((line) => line.slice(line.indexOf('@')));
    expect(listed).toEqual([`@${name}`]);
    await server.serverClose();
    expect(readFileSync('/proc/net/unix', 'utf8')).not.toContain(`@${name}`);
  });

  it("a sender bound to an abstract name arrives unnamed (''): node-unix-socket does not report abstract peers", async () => {
    const seen: ClientAddress[] = [];
    class Probe extends DatagramEchoHandler {
      override setup(): void {
        seen.push(this.clientAddress);
      }
    }
    const path = join(tempDir(), 's.sock');
    const { server } = await startServer(path, Probe);
    const client = new UnixDgramClient(`\0ss-${randomUUID()}`);
    await client.send('anyone?', path);
    const [entry] = await server.log.waitFor(1);
    expect(seen).toEqual([{ family: 'Unix', path: '' }]);
    expect(entry?.error).toMatchObject({ code: 'ERR_SEND_FAILED' });
  });
});

describe('UnixDatagramServer: bounds', () => {
  it('a handler that never finishes: at most maxConcurrentRequests run, requestQueueSize wait, the rest are dropped and counted; serverClose() ends cleanly', async () => {
    const release = deferred();
    let running = 0;
    class Hanging extends DatagramHandler {
      override async handle(): Promise<void> {
        running += 1;
        await release.promise;
        running -= 1;
      }
    }
    const dir = tempDir();
    const path = join(dir, 's.sock');
    const { server } = await startServer(path, Hanging, {
      strategy: eventLoopStrategy(),
      maxConcurrentRequests: 20,
      requestQueueSize: 10,
    });
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    // A Unix datagram socket does not drop on a full buffer: the sender waits, so all 100 arrive.
    for (let i = 0; i < 100; i += 1) await client.send(`d${i}`, path);
    await within(
      (async () => {
        while (server.stats().accepted < 100 || running < 20) await new Promise((r) => setTimeout(r, 2));
      })(),
      'the 100 datagrams received',
    );
    expect(server.stats()).toMatchObject({
      accepted: 100,
      active: 20,
      waiting: 10,
      refused: { requestQueueSize: 70 },
      truncatedDatagrams: 0,
    });
    const closing = server.serverClose();
    release.resolve();
    await within(closing, 'serverClose()');
    expect(running).toBe(0);
  });

  it('100 oversized datagrams: the handler gets the cut bytes, stats().truncatedDatagrams is 100, handleError hears of them once at once and once more on closing', async () => {
    const lengths: number[] = [];
    class Recorder extends DatagramHandler {
      override handle(): void {
        lengths.push(this.data.length);
      }
    }
    const dir = tempDir();
    const path = join(dir, 's.sock');
    const { server } = await startServer(path, Recorder, {
      strategy: eventLoopStrategy(),
      maxPacketSize: 50,
    });
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    for (let i = 0; i < 100; i += 1) await client.send(Buffer.alloc(80, i), path);
    await within(
      (async () => {
        while (lengths.length < 100) await new Promise((r) => setTimeout(r, 2));
      })(),
      'the 100 datagrams handled',
    );
    expect(lengths.every((length) => length === 50)).toBe(true);
    expect(server.stats().truncatedDatagrams).toBe(100);
    const reported = server.log.entries.length;
    expect(reported).toBeGreaterThanOrEqual(1);
    expect(reported).toBeLessThanOrEqual(2);
    await server.serverClose(); // reports what the burst has not yet
    const entries = server.log.entries;
    expect(entries.length).toBeLessThanOrEqual(2);
    expect(entries[0]?.error).toMatchObject({ code: 'ERR_DATAGRAM_TRUNCATED', size: 80, more: 0 });
    const counted = entries.reduce(
      (sum, { error }) => sum + Math.max(1, (error as DatagramTruncatedError).more),
      0,
    );
    expect(counted).toBe(100);
  });
});
