import { randomUUID } from 'node:crypto';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DgramSocket } from 'node-unix-socket';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { ClientError } from './client-error.js';
import { DatagramClient, type DatagramAddress } from './datagram-client.js';
import { waitMs } from './test-support/loopback-server.js';

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'socketserver-test-'));
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** A `node:dgram` socket on `host`, port 0, echoing every datagram to its sender. Closed when the test finishes. */
async function udpEcho(host: string): Promise<{ port: number; senders: RemoteInfo[] }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const senders: RemoteInfo[] = [];
  socket.on('message', (data: Buffer, sender: RemoteInfo) => {
    senders.push(sender);
    socket.send(data, sender.port, sender.address);
  });
  const listening = once(socket, 'listening', { signal: AbortSignal.timeout(waitMs) });
  socket.bind(0, host);
  await listening;
  return { port: socket.address().port, senders };
}

/** A node-unix-socket datagram socket, bound to `path` if given. Closed when the test finishes. */
function unixSocket(path?: string): DgramSocket {
  const socket = new DgramSocket();
  onTestFinished(() => socket.close());
  if (path !== undefined) socket.bind(path);
  return socket;
}

/** A Unix datagram socket at `path` echoing every datagram to its (bound) sender; returns the senders seen. */
function unixEcho(path: string): string[] {
  const socket = unixSocket(path);
  const senders: string[] = [];
  socket.on('data', (data: Buffer, sender: string) => {
    senders.push(sender);
    if (sender !== '') socket.sendTo(data, 0, data.length, sender);
  });
  return senders;
}

/** Sends `data` from a node-unix-socket `socket` to `path`; resolves once the kernel has it. */
function sendFrom(socket: DgramSocket, data: Buffer, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.sendTo(data, 0, data.length, path, (error) => (error ? reject(error) : resolve()));
  });
}

async function openUDP(...args: Parameters<typeof DatagramClient.openUDP>): Promise<DatagramClient> {
  const client = await DatagramClient.openUDP(...args);
  onTestFinished(() => client.close());
  return client;
}

async function openUnix(...args: Parameters<typeof DatagramClient.openUnix>): Promise<DatagramClient> {
  const client = await DatagramClient.openUnix(...args);
  onTestFinished(() => client.close());
  return client;
}

/** A Linux abstract name no other test run uses. */
function abstractName(): string {
  return `\0socketserver-test-${randomUUID()}`;
}

describe('DatagramClient over UDP', () => {
  it('sendTo/recvFrom round-trip with an echo on 127.0.0.1: the reply comes from its [host, port]', async () => {
    const echo = await udpEcho('127.0.0.1');
    const client = await openUDP();
    const [localHost, localPort] = client.address as readonly [string, number];
    expect(localHost).toBe('127.0.0.1');
    expect(localPort).toBeGreaterThan(0);
    await client.sendTo('Hello\n', ['127.0.0.1', echo.port]);
    const [data, address] = await client.recvFrom();
    expect(data.toString()).toBe('Hello\n');
    expect(address).toEqual(['127.0.0.1', echo.port]);
    expect(echo.senders).toMatchObject([{ address: '127.0.0.1', port: localPort }]);
  });

  it('family 6 binds ::1 and round-trips with an echo on ::1', async () => {
    const echo = await udpEcho('::1');
    await using client = await DatagramClient.openUDP({ family: 6 });
    expect(client.address).toEqual(['::1', expect.any(Number)]);
    await client.sendTo(new Uint8Array([0, 1, 2, 3]).subarray(1, 3), ['::1', echo.port]);
    const [data, address] = await client.recvFrom();
    expect([...data]).toEqual([1, 2]);
    expect(address).toEqual(['::1', echo.port]);
  });

  it('shows an IPv4-mapped sender (::ffff:127.0.0.1) on a dual-stack socket as 127.0.0.1', async () => {
    const echo = await udpEcho('127.0.0.1');
    const client = await openUDP({ family: 6, host: '::' });
    await client.sendTo('mapped', ['::ffff:127.0.0.1', echo.port]);
    const [data, address] = await client.recvFrom();
    expect(data.toString()).toBe('mapped');
    expect(address).toEqual(['127.0.0.1', echo.port]);
  });

  it('sends strings as UTF-8 and empty datagrams as empty datagrams', async () => {
    const echo = await udpEcho('127.0.0.1');
    const client = await openUDP();
    await client.sendTo('héllo', ['127.0.0.1', echo.port]);
    await client.sendTo('', ['127.0.0.1', echo.port]);
    expect((await client.recvFrom())[0]).toEqual(Buffer.from('héllo'));
    expect((await client.recvFrom())[0]).toHaveLength(0);
  });

  it('recvFrom times out with ERR_TIMEOUT naming the local address, and the client stays usable', async () => {
    const echo = await udpEcho('127.0.0.1');
    const client = await openUDP();
    const [, localPort] = client.address as readonly [string, number];
    await expect(client.recvFrom({ timeoutMs: 20 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      message: `recvFrom() on 127.0.0.1:${localPort} timed out after 20 ms`,
    });
    await client.sendTo('still here', ['127.0.0.1', echo.port]);
    expect((await client.recvFrom())[0].toString()).toBe('still here');
  });

  it('an aborted signal fails recvFrom with ERR_ABORTED, before or during the wait, with the reason as cause', async () => {
    const client = await openUDP();
    const reason = new Error('test over');
    await expect(client.recvFrom({ signal: AbortSignal.abort(reason) })).rejects.toMatchObject({
      code: 'ERR_ABORTED',
      cause: reason,
    });
    const controller = new AbortController();
    const waiting = client.recvFrom({ signal: controller.signal });
    controller.abort(reason);
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ABORTED', cause: reason });
  });

  it('a second recvFrom while one waits fails with ERR_READ_IN_PROGRESS; the first goes on', async () => {
    const echo = await udpEcho('127.0.0.1');
    const client = await openUDP();
    const first = client.recvFrom();
    await expect(client.recvFrom()).rejects.toMatchObject({ code: 'ERR_READ_IN_PROGRESS' });
    await client.sendTo('first', ['127.0.0.1', echo.port]);
    expect((await first)[0].toString()).toBe('first');
  });

  it('a datagram too long for UDP fails with ERR_SOCKET, EMSGSIZE as cause', async () => {
    const echo = await udpEcho('127.0.0.1');
    const client = await openUDP();
    await expect(client.sendTo(Buffer.alloc(70_000), ['127.0.0.1', echo.port])).rejects.toMatchObject({
      code: 'ERR_SOCKET',
      cause: { code: 'EMSGSIZE' },
    });
  });

  it('binding a port in use fails with ERR_SOCKET naming it', async () => {
    const client = await openUDP();
    const [, port] = client.address as readonly [string, number];
    await expect(DatagramClient.openUDP({ port })).rejects.toMatchObject({
      code: 'ERR_SOCKET',
      message: expect.stringContaining(`Cannot bind 127.0.0.1:${port}`) as string,
      cause: { code: 'EADDRINUSE' },
    });
  });

  it('rejects bad addresses and options with ERR_INVALID_ARGUMENT, never throwing synchronously', async () => {
    const client = await openUDP();
    const addresses: unknown[] = [
      '/tmp/a.sock',
      ['127.0.0.1'],
      ['127.0.0.1', 9, 9],
      ['', 9],
      [9, '127.0.0.1'],
      ['127.0.0.1', 0],
      ['127.0.0.1', 65_536],
      ['127.0.0.1', 1.5],
      ['127.0.0.1', '9'],
    ];
    for (const address of addresses) {
      await expect(client.sendTo('x', address as DatagramAddress)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
    const calls = [
      () => client.sendTo('x', ['127.0.0.1', 9], { timeoutMs: 0 }),
      () => client.recvFrom({ timeoutMs: -1 }),
      () => DatagramClient.openUDP({ port: -1 }),
      () => DatagramClient.openUDP({ port: 65_536 }),
      () => DatagramClient.openUDP({ family: 5 as 4 }),
      () => DatagramClient.openUDP({ host: '' }),
    ];
    for (const call of calls) await expect(call()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('close is idempotent and fails a waiting recvFrom, and every later call, with ERR_CLIENT_CLOSED', async () => {
    const client = await DatagramClient.openUDP();
    const [, localPort] = client.address as readonly [string, number];
    const waiting = expect(client.recvFrom()).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
    const closing = client.close();
    expect(client.close()).toBe(closing);
    await closing;
    await waiting;
    await expect(client.recvFrom()).rejects.toMatchObject({
      code: 'ERR_CLIENT_CLOSED',
      message: `recvFrom() on 127.0.0.1:${localPort} after close()`,
    });
    await expect(client.sendTo('x', ['127.0.0.1', 9])).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
    await client[Symbol.asyncDispose]();
  });

  it('await using closes the client at the end of the block', async () => {
    let scopedClient: DatagramClient | undefined;
    {
      await using client = await DatagramClient.openUDP();
      scopedClient = client;
    }
    await expect(scopedClient.recvFrom()).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
  });
});

describe('DatagramClient over Unix datagram sockets', () => {
  it('round-trips with an echo bound in a temp dir: the reply comes from its path', async () => {
    const echoPath = join(directory, 'echo.sock');
    const senders = unixEcho(echoPath);
    const client = await openUnix();
    await client.sendTo('Hello\n', echoPath);
    const [data, address] = await client.recvFrom();
    expect(data.toString()).toBe('Hello\n');
    expect(address).toBe(echoPath);
    expect(senders).toEqual([client.address]);
  });

  it('a datagram from an unbound sender comes from the address ""', async () => {
    const client = await openUnix();
    await sendFrom(unixSocket(), Buffer.from('anonymous'), client.address as string);
    const [data, address] = await client.recvFrom();
    expect(data.toString()).toBe('anonymous');
    expect(address).toBe('');
  });

  it('without a path, binds in a new temporary directory and removes it on close', async () => {
    const client = await DatagramClient.openUnix();
    const path = client.address as string;
    expect(dirname(dirname(path))).toBe(tmpdir());
    expect(existsSync(path)).toBe(true);
    await client.close();
    expect(existsSync(dirname(path))).toBe(false);
  });

  it('binds a given path, reports it as its address, and removes the socket file on close', async () => {
    const path = join(directory, 'client.sock');
    const echoPath = join(directory, 'echo.sock');
    unixEcho(echoPath);
    const client = await DatagramClient.openUnix({ path });
    expect(client.address).toBe(path);
    await client.sendTo('named', echoPath);
    expect(await client.recvFrom()).toEqual([Buffer.from('named'), echoPath]);
    await client.close();
    expect(existsSync(path)).toBe(false);
    expect(existsSync(directory)).toBe(true);
  });

  it.runIf(process.platform === 'linux')(
    'binds a Linux abstract name, shown as @name in messages',
    async () => {
      const name = abstractName();
      const client = await openUnix({ path: name });
      expect(client.address).toBe(name);
      await sendFrom(unixSocket(), Buffer.from('to abstract'), name);
      expect((await client.recvFrom())[0].toString()).toBe('to abstract');
      await expect(client.recvFrom({ timeoutMs: 20 })).rejects.toMatchObject({
        message: `recvFrom() on @${name.slice(1)} timed out after 20 ms`,
      });
    },
  );

  it('a path with no socket: ERR_CONNECTION_REFUSED naming it (ENOENT, or ECONNREFUSED for a plain file)', async () => {
    const client = await openUnix();
    const missing = join(directory, 'missing.sock');
    const error = await client.sendTo('x', missing).catch((error: unknown) => error);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `Connection refused by ${missing}: no such file`,
      cause: { code: 'ENOENT' },
    });
    const plainFile = join(directory, 'plain-file');
    writeFileSync(plainFile, '');
    await expect(client.sendTo('x', plainFile)).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `Connection refused by ${plainFile}`,
      cause: { code: 'ECONNREFUSED' },
    });
  });

  it('a datagram too long for the socket fails with ERR_SOCKET, EMSGSIZE as cause', async () => {
    const echoPath = join(directory, 'echo.sock');
    unixEcho(echoPath);
    const client = await openUnix();
    await expect(client.sendTo(Buffer.alloc(4 * 1024 * 1024), echoPath)).rejects.toMatchObject({
      code: 'ERR_SOCKET',
      cause: { code: 'EMSGSIZE' },
    });
  });

  it('binding a path in use, or in a missing directory, fails with ERR_SOCKET naming it', async () => {
    const client = await openUnix();
    const path = client.address as string;
    await expect(DatagramClient.openUnix({ path })).rejects.toMatchObject({
      code: 'ERR_SOCKET',
      message: `Cannot bind ${path}: Address already in use`,
      cause: { code: 'EADDRINUSE' },
    });
    const nowhere = join(directory, 'missing-directory', 'client.sock');
    await expect(DatagramClient.openUnix({ path: nowhere })).rejects.toMatchObject({
      code: 'ERR_SOCKET',
      message: `Cannot bind ${nowhere}: No such file or directory`,
    });
  });

  it('rejects bad addresses and paths with ERR_INVALID_ARGUMENT, never throwing synchronously', async () => {
    const client = await openUnix();
    for (const address of [['127.0.0.1', 9], '', 9] as unknown[]) {
      await expect(client.sendTo('x', address as DatagramAddress)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
    await expect(DatagramClient.openUnix({ path: '' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
  });

  it('close fails a waiting recvFrom with ERR_CLIENT_CLOSED, and every later call', async () => {
    const client = await DatagramClient.openUnix();
    const waiting = expect(client.recvFrom()).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
    await client.close();
    await waiting;
    await expect(client.recvFrom()).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
    await expect(client.sendTo('x', join(directory, 'echo.sock'))).rejects.toMatchObject({
      code: 'ERR_CLIENT_CLOSED',
    });
    await client.close();
  });

  it('keeps at most 1024 unread datagrams: the oldest are dropped and counted', async () => {
    const client = await openUnix();
    const sender = unixSocket();
    const sentCount = 1100;
    const sends = Array.from({ length: sentCount }, (_, index) =>
      sendFrom(sender, Buffer.from(String(index)), client.address as string),
    );
    await client.waitForReceived(sentCount, { timeoutMs: waitMs });
    await Promise.all(sends);
    expect(client.receivedDatagrams).toBe(sentCount);
    expect(client.droppedDatagrams).toBe(sentCount - 1024);
    const received: string[] = [];
    for (let reads = 0; reads < 1024; reads += 1) received.push((await client.recvFrom())[0].toString());
    expect(received).toEqual(Array.from({ length: 1024 }, (_, index) => String(index + sentCount - 1024)));
    await expect(client.recvFrom({ timeoutMs: 20 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });
});
