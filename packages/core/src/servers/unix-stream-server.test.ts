import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { formatClientAddress, type ClientAddress } from '../support/client-address.js';
import { BindError } from '../support/errors.js';
import { eventLoopStrategy } from '../strategy/event-loop-strategy.js';
import type { RequestHandlerClass } from '../request/request-handler.js';
import { serialStrategy } from '../strategy/serial-strategy.js';
import { maxUnixPathLength } from '../platform/server-address.js';
import { deferred } from '../test-support/recording-server.js';
import {
  unwritableSocketPath,
  connectError,
  DatagramEchoHandler,
  ErrorLog,
  hasAbstractSocket,
  leaveStaleDatagramSocket,
  leaveStaleStreamSocket,
  roundTrip,
  StreamClient,
  tempDir,
  UnixDgramClient,
} from '../test-support/socket-helpers.js';
import { EchoHandler } from '../test-support/test-handlers.js';
import { UnixDatagramServer } from './unix-datagram-server.js';
import { UnixStreamServer, type UnixStreamServerOptions } from './unix-stream-server.js';

/** A UnixStreamServer that records what `handleError` receives instead of printing it. */
class RecordingUnixStreamServer extends UnixStreamServer {
  readonly log: ErrorLog = new ErrorLog();

  override handleError(_request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.log.record(clientAddress, error);
  }
}

/** Start a server on `path` serving forever; closed when the test finishes. */
function startUnixServer(
  path: string,
  Handler: RequestHandlerClass = EchoHandler,
  options: UnixStreamServerOptions = {},
): { server: RecordingUnixStreamServer; serving: Promise<void> } {
  const server = new RecordingUnixStreamServer(path, Handler, { strategy: eventLoopStrategy(), ...options });
  onTestFinished(() => server.serverClose());
  const serving = server.serveForever();
  serving.catch(() => {});
  return { server, serving };
}

/** What a constructor throws, or `undefined`. */
function thrownBy(construct: () => unknown): unknown {
  try {
    construct();
  } catch (error) {
    return error;
  }
  return undefined;
}

function isSocketFile(path: string): boolean {
  return existsSync(path) && lstatSync(path).isSocket();
}

describe('UnixStreamServer: serving', () => {
  it.each([
    ['eventLoopStrategy', { strategy: eventLoopStrategy() }],
    ['the default serial strategy', {}],
  ] as const)('echoes 1 MiB of random bytes byte-exact with %s', async (_name, options) => {
    const path = join(tempDir(), 's.sock');
    const server = new RecordingUnixStreamServer(path, EchoHandler, options);
    onTestFinished(() => server.serverClose());
    void server.serveForever();
    expect(server.strategy.name).toBe('strategy' in options ? 'async' : 'serial');
    const payload = randomBytes(1 << 20);
    const echoed = await roundTrip(path, payload);
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
    expect(server.log.entries).toEqual([]);
  });

  it("every peer is { family: 'Unix', path: '' }, shown as ''", async () => {
    const seen = deferred<ClientAddress>();
    class Probe extends EchoHandler {
      override setup(): void {
        seen.resolve(this.clientAddress);
      }
    }
    const path = join(tempDir(), 's.sock');
    const { server } = startUnixServer(path, Probe);
    expect(server.serverAddress).toBe(path);
    expect((await roundTrip(path, Buffer.from('hi'))).toString()).toBe('hi');
    const address = await seen.promise;
    expect(address).toEqual({ family: 'Unix', path: '' });
    expect(formatClientAddress(address)).toBe("''");
  });
});

describe('UnixStreamServer: the socket path', () => {
  it('a stale socket file (its server was killed) is removed and the path reused', async () => {
    const path = join(tempDir(), 's.sock');
    await leaveStaleStreamSocket(path);
    expect(isSocketFile(path)).toBe(true);
    expect((await connectError(path))?.code).toBe('ECONNREFUSED');
    const { server } = startUnixServer(path);
    expect((await roundTrip(path, Buffer.from('reused'))).toString()).toBe('reused');
    expect(server.log.entries).toEqual([]);
  });

  it('a stale socket file left by a closed datagram socket is reused too', async () => {
    const path = join(tempDir(), 's.sock');
    leaveStaleDatagramSocket(path);
    expect(isSocketFile(path)).toBe(true);
    startUnixServer(path);
    expect((await roundTrip(path, Buffer.from('reused'))).toString()).toBe('reused');
  });

  it('a live server keeps its path: ERR_ADDRESS_IN_USE naming the path, and the live server serves on', async () => {
    const path = join(tempDir(), 's.sock');
    startUnixServer(path, EchoHandler, { strategy: serialStrategy() });
    const caught = thrownBy(() => new UnixStreamServer(path, EchoHandler));
    expect(caught).toBeInstanceOf(BindError);
    expect(caught).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', path, port: undefined });
    expect((caught as Error).message).toBe(
      `cannot listen on ${path}: address already in use (a live server owns it)`,
    );
    expect(isSocketFile(path)).toBe(true);
    expect((await roundTrip(path, Buffer.from('still mine'))).toString()).toBe('still mine');
  });

  it('a live Unix datagram server keeps its path from a stream server, and serves on', async () => {
    const dir = tempDir();
    const path = join(dir, 'd.sock');
    const owner = new UnixDatagramServer(path, DatagramEchoHandler);
    onTestFinished(() => owner.serverClose());
    await owner.listening;
    void owner.serveForever();
    const caught = thrownBy(() => new UnixStreamServer(path, EchoHandler));
    expect(caught).toBeInstanceOf(BindError);
    expect(caught).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', path });
    expect((caught as Error).message).toContain(path);
    expect((caught as Error).message).toContain('a live server owns it');
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    const reply = await client.request('still mine', path);
    expect(reply).toEqual({ data: Buffer.from('still mine'), from: path });
  });

  it('a regular file at the path is a BindError saying it is not a socket, and is left untouched', () => {
    const path = join(tempDir(), 'not-a-socket');
    writeFileSync(path, 'precious data');
    const caught = thrownBy(() => new UnixStreamServer(path, EchoHandler));
    expect(caught).toBeInstanceOf(BindError);
    expect(caught).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', path });
    expect((caught as Error).message).toBe(
      `cannot listen on ${path}: address already in use (the path exists and is not a socket)`,
    );
    expect(lstatSync(path).isFile()).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('precious data');
  });

  it('the socket file is removed by serverClose()', async () => {
    const path = join(tempDir(), 's.sock');
    const { server, serving } = startUnixServer(path);
    expect((await roundTrip(path, Buffer.from('x'))).toString()).toBe('x');
    expect(isSocketFile(path)).toBe(true);
    await server.serverClose();
    await serving;
    expect(existsSync(path)).toBe(false);
  });

  it('the socket file is removed by shutdown()', async () => {
    const path = join(tempDir(), 's.sock');
    const { server, serving } = startUnixServer(path);
    expect((await roundTrip(path, Buffer.from('x'))).toString()).toBe('x');
    await server.shutdown();
    await serving;
    expect(existsSync(path)).toBe(false);
  });

  it('the socket file of a server only bound (never activated) is removed by serverClose()', async () => {
    const path = join(tempDir(), 's.sock');
    const server = new UnixStreamServer(path, EchoHandler, { bindAndActivate: false });
    onTestFinished(() => server.serverClose());
    expect(existsSync(path)).toBe(false);
    server.serverBind();
    expect(isSocketFile(path)).toBe(true);
    await server.serverClose();
    expect(existsSync(path)).toBe(false);
  });

  it.each([0o600, 0o660])('mode 0o%o is applied to the socket file', async (mode) => {
    const path = join(tempDir(), 's.sock');
    const { server } = startUnixServer(path, EchoHandler, { mode });
    expect(server.mode).toBe(mode);
    expect(statSync(path).mode & 0o777).toBe(mode);
    expect((await roundTrip(path, Buffer.from('x'))).toString()).toBe('x');
  });

  it.each([-1, 0o1000, 1.5])('mode %s is ERR_INVALID_OPTION at construction, nothing bound', (mode) => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    expect(() => new UnixStreamServer(path, EchoHandler, { mode })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringContaining('mode') as string,
      }),
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('mode with an abstract name is ERR_INVALID_OPTION (it has no file)', () => {
    const name = `\0ss-${randomUUID()}`;
    expect(() => new UnixStreamServer(name, EchoHandler, { mode: 0o600 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  it('a path longer than sockaddr_un holds is ERR_INVALID_OPTION at construction, naming the limit', () => {
    const dir = tempDir();
    const path = join(dir, 'x'.repeat(maxUnixPathLength + 1 - dir.length - 1));
    expect(Buffer.byteLength(path)).toBe(maxUnixPathLength + 1);
    expect(() => new UnixStreamServer(path, EchoHandler)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringContaining(`at most ${maxUnixPathLength} bytes`) as string,
      }),
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a path of exactly the limit binds and serves', async () => {
    const dir = tempDir();
    const path = join(dir, 'x'.repeat(maxUnixPathLength - dir.length - 1));
    expect(Buffer.byteLength(path)).toBe(maxUnixPathLength);
    startUnixServer(path);
    expect((await roundTrip(path, Buffer.from('long'))).toString()).toBe('long');
  });

  it.each([
    ['an empty path', ''],
    ['a path with a NUL byte inside', '/tmp/ss-a\0b.sock'],
  ])('%s is ERR_INVALID_OPTION', (_name, path) => {
    expect(() => new UnixStreamServer(path, EchoHandler)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  it('a directory the process may not write is ERR_PERMISSION_DENIED naming the path', () => {
    const { path, reason } = unwritableSocketPath(tempDir());
    const caught = thrownBy(() => new UnixStreamServer(path, EchoHandler));
    expect(caught).toBeInstanceOf(BindError);
    expect(caught).toMatchObject({ code: 'ERR_PERMISSION_DENIED', path });
    expect((caught as Error).message).toMatch(new RegExp(`^cannot listen on ${path}: ${reason.source}`));
    expect(existsSync(path)).toBe(false);
  });
});

describe.skipIf(process.platform !== 'linux')('UnixStreamServer: Linux abstract names', () => {
  it('serves on an abstract name with no file; a second server on it is ERR_ADDRESS_IN_USE', async () => {
    const name = `ss-${randomUUID()}`;
    const dir = tempDir();
    const before = new Set(readdirSync(process.cwd()));
    const { server } = startUnixServer(`\0${name}`);
    expect(hasAbstractSocket(readFileSync('/proc/net/unix', 'utf8'), name)).toBe(true);
    expect((await roundTrip(`\0${name}`, Buffer.from('abstract'))).toString()).toBe('abstract');
    expect(readdirSync(process.cwd()).filter((entry) => !before.has(entry))).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);

    const caught = thrownBy(() => new UnixStreamServer(`\0${name}`, EchoHandler));
    expect(caught).toBeInstanceOf(BindError);
    expect(caught).toMatchObject({ code: 'ERR_ADDRESS_IN_USE' });
    expect((caught as Error).message).toBe(
      `cannot listen on @${name}: address already in use (a live server owns it)`,
    );
    expect((await roundTrip(`\0${name}`, Buffer.from('still'))).toString()).toBe('still');

    await server.serverClose();
    expect(hasAbstractSocket(readFileSync('/proc/net/unix', 'utf8'), name)).toBe(false);
    startUnixServer(`\0${name}`);
    expect((await roundTrip(`\0${name}`, Buffer.from('again'))).toString()).toBe('again');
  });
});

describe('UnixStreamServer: lifecycle', () => {
  it('bindAndActivate: false binds in serverBind (refusing connections) and listens in serverActivate', async () => {
    const path = join(tempDir(), 's.sock');
    const server = new UnixStreamServer(path, EchoHandler, { bindAndActivate: false });
    onTestFinished(() => server.serverClose());
    await expect(server.listening).rejects.toMatchObject({ code: 'ERR_SERVER_STATE' });
    server.serverBind();
    expect(isSocketFile(path)).toBe(true);
    expect((await connectError(path))?.code).toBe('ECONNREFUSED');
    await server.serverActivate();
    const serving = server.serveForever();
    expect((await roundTrip(path, Buffer.from('ok'))).toString()).toBe('ok');
    await server.shutdown();
    await serving;
    expect(existsSync(path)).toBe(false);
  });

  it('handleRequest serves exactly one connection and resolves when it has finished', async () => {
    const path = join(tempDir(), 's.sock');
    const server = new RecordingUnixStreamServer(path, EchoHandler);
    onTestFinished(() => server.serverClose());
    const states: string[] = [];
    server.on('connectionState', (event) => states.push(event.state));
    const one = server.handleRequest();
    expect((await roundTrip(path, Buffer.from('one'))).toString()).toBe('one');
    await one;
    const second = await StreamClient.connect(path);
    second.write('two');
    second.end();
    await vi.waitFor(() => expect(server.connectionCount).toBe(1), { timeout: 5000, interval: 5 });
    // Nobody serves it until the next handleRequest().
    expect(states.at(-1)).toBe('new');
    expect(second.ended).toBe(false);
    const two = server.handleRequest();
    expect((await second.readToEnd()).toString()).toBe('two');
    await two;
    expect(server.log.entries).toEqual([]);
  });

  it('handleRequest calls handleTimeout when no connection comes within timeoutMs', async () => {
    let timeouts = 0;
    class Timed extends UnixStreamServer {
      override handleTimeout(): void {
        timeouts += 1;
      }
    }
    const server = new Timed(join(tempDir(), 's.sock'), EchoHandler, { timeoutMs: 50 });
    onTestFinished(() => server.serverClose());
    await server.handleRequest();
    expect(timeouts).toBe(1);
  });

  it('shutdown stops accepting, lets a running request finish, then removes the file', async () => {
    const path = join(tempDir(), 's.sock');
    const { server, serving } = startUnixServer(path);
    const client = await StreamClient.connect(path);
    client.write('before');
    expect((await client.read(6)).toString()).toBe('before');
    const stopped = server.shutdown({ drainTimeoutMs: 5000 });
    expect(['ENOENT', 'ECONNREFUSED']).toContain((await connectError(path))?.code);
    client.write('during');
    expect((await client.read(6)).toString()).toBe('during');
    client.end();
    expect(await client.readToEnd()).toHaveLength(0);
    await stopped;
    await serving;
    expect(server.connectionCount).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(server.log.entries).toEqual([]);
  });

  it('await using closes the server and removes the file', async () => {
    const path = join(tempDir(), 's.sock');
    {
      await using server = new UnixStreamServer(path, EchoHandler);
      void server.serveForever();
      expect((await roundTrip(path, Buffer.from('x'))).toString()).toBe('x');
    }
    expect(existsSync(path)).toBe(false);
  });

  it('the signal option shuts the server down', async () => {
    const path = join(tempDir(), 's.sock');
    const controller = new AbortController();
    const { serving } = startUnixServer(path, EchoHandler, { signal: controller.signal });
    expect((await roundTrip(path, Buffer.from('x'))).toString()).toBe('x');
    controller.abort();
    await serving;
    expect(existsSync(path)).toBe(false);
  });
});
