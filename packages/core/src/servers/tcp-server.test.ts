import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from '@socketserver/client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { formatClientAddress, type ClientAddress, type InetAddress } from '../support/client-address.js';
import { ConnectionClosedError } from '../support/errors.js';
import { eventLoopStrategy } from '../strategy/event-loop-strategy.js';
import { serialStrategy } from '../strategy/serial-strategy.js';
import type { DropEvent } from './stream-server.js';
import { TCPServer } from './tcp-server.js';
import { deferred, RecordingServer, startServer } from '../test-support/recording-server.js';
import { EchoHandler, SocketHandler } from '../test-support/test-handlers.js';

describe('TCPServer: binding and activation', () => {
  it('port 0 picks a free port and serverAddress reports it', async () => {
    const { server } = startServer(EchoHandler);
    expect(server.serverAddress[0]).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    await using client = await connect('127.0.0.1', server.port);
    expect(await client.send('Hello\n')).toBe(6);
    expect((await client.recv(8192)).toString()).toBe('Hello\n');
  });

  it('serves IPv6 on ::1 and reports the client as a 4-tuple', async () => {
    const seen = deferred<ClientAddress>();
    class Probe extends EchoHandler {
      override setup(): void {
        seen.resolve(this.clientAddress);
      }
    }
    const { server } = startServer(Probe, {}, ['::1', 0]);
    await using client = await connect('::1', server.port);
    await client.sendAll('x');
    expect((await client.recv(1)).toString()).toBe('x');
    const address = await seen.promise;
    expect(address).toMatchObject({ host: '::1', family: 'IPv6', port: client.localPort });
    expect(formatClientAddress(address)).toBe(`('::1', ${client.localPort}, 0, 0)`);
  });

  it("host '' listens on every interface and shows IPv4 clients as IPv4", async () => {
    const seen = deferred<ClientAddress>();
    class Probe extends EchoHandler {
      override setup(): void {
        seen.resolve(this.clientAddress);
      }
    }
    const { server } = startServer(Probe, {}, ['', 0]);
    await using v4 = await connect('127.0.0.1', server.port);
    await v4.sendAll('4');
    expect((await v4.recv(1)).toString()).toBe('4');
    expect(formatClientAddress(await seen.promise)).toBe(`('127.0.0.1', ${v4.localPort})`);
    await using v6 = await connect('::1', server.port);
    await v6.sendAll('6');
    expect((await v6.recv(1)).toString()).toBe('6');
  });

  it("addressFamily 'IPv4' with host '' listens on 0.0.0.0 only; ipv6Only on :: only", async () => {
    const { server: v4 } = startServer(EchoHandler, { addressFamily: 'IPv4' }, ['', 0]);
    await (await connect('127.0.0.1', v4.port)).close();
    await expect(connect('::1', v4.port, { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
    });
    const { server: v6 } = startServer(EchoHandler, { ipv6Only: true }, ['', 0]);
    await (await connect('::1', v6.port)).close();
    await expect(connect('127.0.0.1', v6.port, { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
    });
  });

  it('bindAndActivate: false binds in serverBind (port known, not yet listening) and listens in serverActivate', async () => {
    const server = new TCPServer(['127.0.0.1', 0], EchoHandler, { bindAndActivate: false });
    onTestFinished(() => server.serverClose());
    server.setSocketOption('SO_REUSEADDR', true);
    server.serverBind();
    expect(server.port).toBeGreaterThan(0);
    await expect(connect('127.0.0.1', server.port, { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
    });
    await server.serverActivate();
    const serving = server.serveForever();
    await using client = await connect('127.0.0.1', server.port);
    await client.sendAll('ok');
    expect((await client.recv(2)).toString()).toBe('ok');
    await client.close();
    await server.shutdown();
    await serving;
  });

  it('a port in use is a BindError naming the port, thrown by the constructor', () => {
    const { server } = startServer(EchoHandler);
    let caught: unknown;
    try {
      new TCPServer(['127.0.0.1', server.port], EchoHandler);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', port: server.port });
    expect((caught as Error).message).toBe(
      `cannot listen on 127.0.0.1 port ${server.port}: address already in use`,
    );
  });

  it('serverBind fails with ERR_ADDRESS_IN_USE and the server can still be closed', async () => {
    const { server: first } = startServer(EchoHandler);
    const second = new TCPServer(['127.0.0.1', first.port], EchoHandler, { bindAndActivate: false });
    expect(() => second.serverBind()).toThrow(expect.objectContaining({ code: 'ERR_ADDRESS_IN_USE' }));
    await second.serverClose();
  });

  it('allowReusePort lets two servers share a port', () => {
    const { server: first } = startServer(EchoHandler, { allowReusePort: true });
    const { server: second } = startServer(EchoHandler, { allowReusePort: true }, ['127.0.0.1', first.port]);
    expect(second.port).toBe(first.port);
  });

  it('allowReuseAddress=false is refused on this platform, never silently ignored', () => {
    expect(TCPServer.allowReuseAddress).toBe(process.platform !== 'win32');
    expect(() => new TCPServer(['127.0.0.1', 0], EchoHandler, { allowReuseAddress: false })).toThrow(
      expect.objectContaining({ code: 'ERR_UNSUPPORTED_OPTION' }),
    );
  });

  it('class defaults can be set on a subclass, as TCPServer.allow_reuse_address', () => {
    class QuietServer extends TCPServer {
      static override requestQueueSize = 7;
      static override drainTimeoutMs = 123;
    }
    const server = new QuietServer(['127.0.0.1', 0], EchoHandler, { bindAndActivate: false });
    expect(server.requestQueueSize).toBe(7);
    expect(server.drainTimeoutMs).toBe(123);
    expect(new TCPServer(['127.0.0.1', 0], EchoHandler, { bindAndActivate: false }).requestQueueSize).toBe(
      128,
    );
  });

  it.each([
    [['127.0.0.1', 70000], {}, 'port'],
    [['127.0.0.1', -1], {}, 'port'],
    [['example.invalid', 0], {}, 'host'],
    [['127.0.0.1', 0], { requestQueueSize: 0 }, 'requestQueueSize'],
    [['127.0.0.1', 0], { maxConnections: 1.5 }, 'maxConnections'],
    [['127.0.0.1', 0], { idleTimeoutMs: -1 }, 'idleTimeoutMs'],
    [['127.0.0.1', 0], { drainTimeoutMs: -5 }, 'drainTimeoutMs'],
    [['127.0.0.1', 0], { idleTimeoutMs: 3e9 }, 'idleTimeoutMs'],
    [['127.0.0.1', 0], { timeoutMs: 2 ** 31 }, 'timeoutMs'],
    [['127.0.0.1', 0], { timeoutMs: -1 }, 'timeoutMs'],
  ] as const)('rejects a bad option at construction: %j %j', (address, options, name) => {
    expect(() => new TCPServer(address, EchoHandler, { bindAndActivate: false, ...options })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringContaining(name) as string,
      }),
    );
  });

  it('lifecycle misuse has codes: serve before activate, serve twice, set options after bind', async () => {
    const idle = new TCPServer(['127.0.0.1', 0], EchoHandler, { bindAndActivate: false });
    await expect(idle.serveForever()).rejects.toMatchObject({ code: 'ERR_SERVER_STATE' });
    await expect(idle.serverActivate()).rejects.toMatchObject({ code: 'ERR_SERVER_STATE' });
    idle.serverBind();
    expect(() => idle.setSocketOption('SO_REUSEPORT', true)).toThrow(
      expect.objectContaining({ code: 'ERR_SERVER_STATE' }),
    );
    expect(() => idle.serverBind()).toThrow(expect.objectContaining({ code: 'ERR_SERVER_STATE' }));
    await idle.serverClose();

    const { server } = startServer(EchoHandler);
    await expect(server.serveForever()).rejects.toMatchObject({ code: 'ERR_SERVER_STATE' });
    await server.shutdown();
    await expect(server.serveForever()).rejects.toMatchObject({ code: 'ERR_SERVER_CLOSED' });
    await expect(server.handleRequest()).rejects.toMatchObject({ code: 'ERR_SERVER_CLOSED' });
  });
});

describe('TCPServer: requests', () => {
  it('serial strategy serves one client at a time; the next waits in the accept queue', async () => {
    const started: number[] = [];
    class Probe extends EchoHandler {
      override setup(): void {
        started.push((this.clientAddress as InetAddress).port);
      }
    }
    const { server } = startServer(Probe, { strategy: serialStrategy() });
    await using first = await connect('127.0.0.1', server.port);
    await first.sendAll('1');
    expect((await first.recv(1)).toString()).toBe('1');
    await using second = await connect('127.0.0.1', server.port);
    await second.sendAll('2');
    await expect(second.recv(1, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(started).toEqual([first.localPort]);
    expect(server.connectionCount).toBe(2);
    await first.close();
    expect((await second.recv(1)).toString()).toBe('2');
    expect(started).toEqual([first.localPort, second.localPort]);
  });

  it('event-loop strategy serves clients at the same time', async () => {
    const { server } = startServer(EchoHandler, { strategy: eventLoopStrategy() });
    await using first = await connect('127.0.0.1', server.port);
    await using second = await connect('127.0.0.1', server.port);
    await second.sendAll('b');
    await first.sendAll('a');
    expect((await second.recv(1)).toString()).toBe('b');
    expect((await first.recv(1)).toString()).toBe('a');
  });

  it('handleRequest serves exactly one request and resolves when it has finished', async () => {
    const server = new TCPServer(['127.0.0.1', 0], EchoHandler);
    onTestFinished(() => server.serverClose());
    const one = server.handleRequest();
    await using first = await connect('127.0.0.1', server.port);
    await using second = await connect('127.0.0.1', server.port);
    await first.sendAll('one');
    expect((await first.recv(3)).toString()).toBe('one');
    await second.sendAll('two');
    await first.shutdownWrite();
    await one;
    expect(await first.recv(10)).toHaveLength(0);
    await expect(second.recv(3, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const two = server.handleRequest();
    expect((await second.recv(3)).toString()).toBe('two');
    await second.close();
    await two;
  });

  it('handleRequest calls handleTimeout when no connection comes within timeoutMs', async () => {
    let timeouts = 0;
    class Timed extends TCPServer {
      override handleTimeout(): void {
        timeouts += 1;
      }
    }
    const server = new Timed(['127.0.0.1', 0], EchoHandler, { timeoutMs: 50 });
    onTestFinished(() => server.serverClose());
    await server.handleRequest();
    expect(timeouts).toBe(1);
  });

  it('handleRequest with timeoutMs: 0 (off) waits for a connection that comes 300 ms later', async () => {
    let timeouts = 0;
    class Timed extends TCPServer {
      override handleTimeout(): void {
        timeouts += 1;
      }
    }
    const server = new Timed(['127.0.0.1', 0], EchoHandler, { timeoutMs: 0 });
    onTestFinished(() => server.serverClose());
    expect(server.timeoutMs).toBeUndefined();
    await server.listening;
    const handled = server.handleRequest();
    await delay(300); // the late client: the wait is what is tested
    expect(timeouts).toBe(0);
    await using client = await connect('127.0.0.1', server.port);
    await client.sendAll('late');
    expect((await client.recv(4)).toString()).toBe('late');
    await client.close();
    await handled;
    expect(timeouts).toBe(0);
  });

  it('the template steps are hooks: processRequest, finishRequest, shutdownRequest, closeRequest, serviceActions', async () => {
    const calls: string[] = [];
    class Traced extends RecordingServer {
      override async processRequest(request: net.Socket, clientAddress: ClientAddress): Promise<void> {
        calls.push('processRequest');
        await super.processRequest(request, clientAddress);
      }
      override async finishRequest(request: net.Socket, clientAddress: ClientAddress): Promise<void> {
        calls.push('finishRequest');
        await super.finishRequest(request, clientAddress);
      }
      override async shutdownRequest(request: net.Socket): Promise<void> {
        calls.push('shutdownRequest');
        await super.shutdownRequest(request);
      }
      override closeRequest(request: net.Socket): void {
        calls.push('closeRequest');
        super.closeRequest(request);
      }
      override serviceActions(): void {
        calls.push('serviceActions');
      }
    }
    const server = new Traced(['127.0.0.1', 0], EchoHandler, { strategy: serialStrategy() });
    onTestFinished(() => server.serverClose());
    void server.serveForever();
    await using client = await connect('127.0.0.1', server.port);
    await client.sendAll('x');
    expect((await client.recv(1)).toString()).toBe('x');
    await client.shutdownWrite();
    await client.waitForClose();
    await waitForConnections(server, () => server.connectionCount === 0);
    // As Python's _handle_request_noblock: the request is started before serviceActions runs,
    // and serviceActions does not wait for it to end.
    expect(calls).toEqual([
      'processRequest',
      'finishRequest',
      'serviceActions',
      'shutdownRequest',
      'closeRequest',
    ]);
  });

  it('verifyRequest can refuse a connection before any handler runs', async () => {
    let handled = 0;
    class Counting extends EchoHandler {
      override setup(): void {
        handled += 1;
      }
    }
    class Refusing extends RecordingServer {
      override verifyRequest(): boolean {
        return false;
      }
    }
    const server = new Refusing(['127.0.0.1', 0], Counting, { strategy: eventLoopStrategy() });
    onTestFinished(() => server.serverClose());
    void server.serveForever();
    await using client = await connect('127.0.0.1', server.port);
    expect(await client.recv(1)).toHaveLength(0);
    expect(handled).toBe(0);
  });

  it('a handler that throws: handleError once with the address, finish runs, socket closed, server serves on, no fd leak', async () => {
    let finished = 0;
    class Throwing extends SocketHandler {
      override handle(): void {
        throw new TypeError('handler bug');
      }
      override finish(): void {
        finished += 1;
      }
    }
    const { server } = startServer(Throwing);
    const countFds = (): number => (process.platform === 'linux' ? readdirCount('/proc/self/fd') : 0);
    // Warm up once so lazily opened descriptors don't count as leaks.
    {
      await using client = await connect('127.0.0.1', server.port);
      expect(await client.recv(1)).toHaveLength(0);
    }
    await server.waitForErrors(1);
    const before = countFds();
    const rounds = 20;
    for (let round = 0; round < rounds; round += 1) {
      await using client = await connect('127.0.0.1', server.port);
      expect(await client.recv(1)).toHaveLength(0);
    }
    const errors = await server.waitForErrors(rounds + 1);
    expect(errors).toHaveLength(rounds + 1);
    expect(finished).toBe(rounds + 1);
    expect(errors[1]?.error).toBeInstanceOf(TypeError);
    expect(errors[1]?.clientAddress).toMatchObject({ host: '127.0.0.1' });
    await waitForConnections(server, () => server.connectionCount === 0);
    expect(countFds()).toBe(before);
  });

  it('the default handleError prints one line with the address and never a stack', async () => {
    class Throwing extends SocketHandler {
      override handle(): void {
        throw new Error('boom');
      }
    }
    const written: string[] = [];
    const spy = vi
      .spyOn(process.stderr, 'write')
      .mockImplementation((chunk) => written.push(String(chunk)) > 0);
    onTestFinished(() => spy.mockRestore());
    const server = new TCPServer(['127.0.0.1', 0], Throwing, { strategy: eventLoopStrategy() });
    onTestFinished(() => server.serverClose());
    void server.serveForever();
    await using client = await connect('127.0.0.1', server.port);
    expect(await client.recv(1)).toHaveLength(0);
    await waitForConnections(server, () => server.connectionCount === 0);
    expect(written).toEqual([
      `Error handling request from ('127.0.0.1', ${client.localPort}): Error: boom\n`,
    ]);
  });

  it('shutdownRequest delivers everything written, then a clean EOF', async () => {
    const payload = Buffer.alloc(4 << 20, 7);
    class Writer extends SocketHandler {
      override handle(): void {
        this.request.write(payload);
      }
    }
    const { server } = startServer(Writer);
    await using client = await connect('127.0.0.1', server.port);
    const received = await client.recvUntilClosed();
    expect(received.equals(payload)).toBe(true);
  });

  it('shutdownRequest waits at most drainTimeoutMs for a client that reads nothing, then closes it', async () => {
    const payload = Buffer.alloc(32 << 20, 7); // more than the socket buffers of both ends hold
    class Writer extends SocketHandler {
      override handle(): void {
        this.request.write(payload); // not awaited: the handler returns with bytes still queued
      }
    }
    const { server } = startServer(Writer, { drainTimeoutMs: 200 });
    const closed = deferred<void>();
    server.on('connectionState', (event) => {
      if (event.state === 'closed') closed.resolve();
    });
    const client = net.connect(server.port, '127.0.0.1');
    client.pause(); // reads nothing
    onTestFinished(() => void client.destroy());
    const started = performance.now();
    await closed.promise;
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(server.errors).toEqual([]);
  });
});

describe('TCPServer: limits', () => {
  it('maxConnections: a connection beyond it is dropped and reported', async () => {
    const { server } = startServer(EchoHandler, { maxConnections: 2 });
    const drops: string[] = [];
    server.on('drop', (event) => drops.push(event.reason));
    await using a = await connect('127.0.0.1', server.port);
    await using b = await connect('127.0.0.1', server.port);
    await a.sendAll('a');
    await b.sendAll('b');
    expect((await a.recv(1)).toString() + (await b.recv(1)).toString()).toBe('ab');
    await using c = await connect('127.0.0.1', server.port);
    expect(await c.recv(1)).toHaveLength(0);
    expect(drops).toEqual(['maxConnections']);
    expect(server.droppedConnections).toBe(1);
    await a.close();
    await waitForConnections(server, () => server.connectionCount === 1);
    await using d = await connect('127.0.0.1', server.port);
    await d.sendAll('d');
    expect((await d.recv(1)).toString()).toBe('d');
  });

  it('requestQueueSize bounds the accept queue of a serial server', async () => {
    const { server } = startServer(EchoHandler, { strategy: serialStrategy(), requestQueueSize: 1 });
    const drops = once(server, 'drop', { signal: AbortSignal.timeout(5000) });
    await using busy = await connect('127.0.0.1', server.port);
    await busy.sendAll('x');
    await busy.recv(1);
    await using waiting = await connect('127.0.0.1', server.port);
    await waitForConnections(server, () => server.connectionCount === 2);
    await using dropped = await connect('127.0.0.1', server.port);
    expect(await dropped.recv(1)).toHaveLength(0);
    const [drop] = (await drops) as [DropEvent];
    expect(drop.reason).toBe('requestQueueSize');
    expect(drop.clientAddress).toMatchObject({ port: dropped.localPort });
    await busy.close();
    await waiting.sendAll('w');
    expect((await waiting.recv(1)).toString()).toBe('w');
  });

  it('idleTimeoutMs closes a silent connection and reports ERR_IDLE_TIMEOUT once', async () => {
    const { server } = startServer(EchoHandler, { idleTimeoutMs: 150 });
    await using client = await connect('127.0.0.1', server.port);
    for (let i = 0; i < 3; i += 1) {
      // Talking keeps the connection alive past the timeout.
      await client.sendAll('hi');
      expect((await client.recv(2)).toString()).toBe('hi');
    }
    expect(await client.recv(1, { timeoutMs: 5000 })).toHaveLength(0);
    await waitForConnections(server, () => server.connectionCount === 0);
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]?.error).toMatchObject({ code: 'ERR_IDLE_TIMEOUT' });
    expect(server.errors[0]?.clientAddress).toMatchObject({ port: client.localPort });
  });

  it('idleTimeoutMs: 0 turns the idle timeout off: a connection silent for 300 ms is served on', async () => {
    const { server } = startServer(EchoHandler, { idleTimeoutMs: 0 });
    expect(server.idleTimeoutMs).toBeUndefined();
    await using client = await connect('127.0.0.1', server.port);
    await client.sendAll('hi');
    expect((await client.recv(2)).toString()).toBe('hi');
    await delay(300); // the silence is what is tested
    await client.sendAll('again');
    expect((await client.recv(5)).toString()).toBe('again');
    expect(server.errors).toEqual([]);
  });
});

describe('TCPServer: shutdown and close', () => {
  it('shutdown stops accepting, lets a running request finish, then serveForever resolves', async () => {
    const { server, serving } = startServer(EchoHandler);
    await using client = await connect('127.0.0.1', server.port);
    await client.sendAll('before');
    expect((await client.recv(6)).toString()).toBe('before');
    const stopped = server.shutdown({ drainTimeoutMs: 5000 });
    await expect(connect('127.0.0.1', server.port, { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
    });
    await client.sendAll('during');
    expect((await client.recv(6)).toString()).toBe('during');
    await client.close();
    await stopped;
    await serving;
    expect(server.connectionCount).toBe(0);
  });

  it('shutdown closes connections still waiting in the accept queue', async () => {
    const { server, serving } = startServer(EchoHandler, { strategy: serialStrategy() });
    await using busy = await connect('127.0.0.1', server.port);
    await busy.sendAll('b');
    await busy.recv(1);
    await using waiting = await connect('127.0.0.1', server.port);
    await waitForConnections(server, () => server.connectionCount === 2);
    const stopped = server.shutdown({ drainTimeoutMs: 5000 });
    expect(await waiting.recv(1)).toHaveLength(0);
    await busy.close();
    await stopped;
    await serving;
  });

  it('a drain deadline closes what is still running', async () => {
    const { server, serving } = startServer(EchoHandler);
    await using idle = await connect('127.0.0.1', server.port);
    await idle.sendAll('x');
    await idle.recv(1);
    await server.shutdown({ drainTimeoutMs: 100 });
    await serving;
    expect(await idle.recv(1)).toHaveLength(0);
  });

  it('handlers failing because the drain deadline closed their connection are not reported; others are', async () => {
    class WaitsForClose extends SocketHandler {
      override async handle(): Promise<void> {
        this.request.resume();
        await once(this.request, 'close');
        throw new ConnectionClosedError('the connection was closed under the handler');
      }
    }
    const { server } = startServer(WaitsForClose);
    await using client = await connect('127.0.0.1', server.port);
    await waitForConnections(server, () => server.connectionCount === 1 && server.errors.length === 0);
    await server.shutdown({ drainTimeoutMs: 50 });
    expect(await client.recv(1)).toHaveLength(0);
    expect(server.errors).toEqual([]);
  });

  it('shutdown ends when its signal aborts, even with a long drain', async () => {
    const { server } = startServer(EchoHandler);
    await using idle = await connect('127.0.0.1', server.port);
    await idle.sendAll('x');
    await idle.recv(1);
    await server.shutdown({ drainTimeoutMs: 60_000, signal: AbortSignal.timeout(50) });
    expect(await idle.recv(1)).toHaveLength(0);
  });

  it('serverClose drops everything at once, is idempotent, and shutdown after it waits on it', async () => {
    const { server, serving } = startServer(EchoHandler);
    await using client = await connect('127.0.0.1', server.port);
    await client.sendAll('x');
    await client.recv(1);
    const first = server.serverClose();
    expect(server.serverClose()).toBe(first);
    expect(server.shutdown()).toBe(first);
    await first;
    await serving;
    expect(await client.recv(1)).toHaveLength(0);
  });

  it('the signal option shuts the server down', async () => {
    const controller = new AbortController();
    const { server, serving } = startServer(EchoHandler, { signal: controller.signal });
    controller.abort();
    await serving;
    await expect(connect('127.0.0.1', server.port, { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
    });
  });

  it('await using closes the server', async () => {
    const port = await (async () => {
      await using server = new TCPServer(['127.0.0.1', 0], EchoHandler);
      void server.serveForever();
      return server.port;
    })();
    await expect(connect('127.0.0.1', port, { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
    });
  });

  it('a connection whose client gave up while it waited is served, sees the end, and leaves', async () => {
    const { server } = startServer(EchoHandler, { strategy: serialStrategy() });
    const busy = await connect('127.0.0.1', server.port);
    await busy.sendAll('b');
    await busy.recv(1);
    const quitter = net.connect(server.port, '127.0.0.1');
    await once(quitter, 'connect');
    await waitForConnections(server, () => server.connectionCount === 2);
    // Like Python's listen backlog: a queued connection is not read until its turn comes.
    quitter.resetAndDestroy();
    await busy.close();
    await waitForConnections(server, () => server.connectionCount === 0);
  });
});

function readdirCount(path: string): number {
  return readdirSync(path).length;
}

/** Wait until the server's connections reach a condition: woken by its events, bounded in time. */
async function waitForConnections(
  server: TCPServer,
  condition: () => boolean,
  timeoutMs = 5000,
): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  while (!condition()) await once(server, 'connectionState', { signal });
}
