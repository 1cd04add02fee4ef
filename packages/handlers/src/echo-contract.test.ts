import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ClientAddress, RequestHandlerClass } from '@socketserver/core';
import { BaseRequestHandler } from './base-request-handler.js';
import { LineRequestHandler } from './line-request-handler.js';
import type { SocketRequest } from './socket-request.js';
import { StreamRequestHandler } from './stream-request-handler.js';
import { startTestServer, waitMs } from './test-support/start-test-server.js';
import { TestConnection } from './test-support/test-connection.js';

/** The client ports whose handler's finish() has run; `finished` emits 'finish' on each. */
const finishedPorts = new Set<number>();
const finished = new EventEmitter();

/** The request of the handler serving each client port, for tests that look at the server's buffers. */
const requests = new Map<number, SocketRequest>();
const started = new EventEmitter();

/** Records the request of the handler serving `clientAddress`, a TCP peer. */
function recordStart(clientAddress: ClientAddress, request: SocketRequest): void {
  if (clientAddress.family === 'Unix') throw new Error('expected a TCP peer, got a Unix one');
  requests.set(clientAddress.port, request);
  started.emit('start');
}

/** Resolves with the request of the handler serving the client on `clientPort`. */
async function requestServing(clientPort: number | undefined): Promise<SocketRequest> {
  const signal = AbortSignal.timeout(waitMs);
  for (;;) {
    const request = clientPort === undefined ? undefined : requests.get(clientPort);
    if (request !== undefined) return request;
    await once(started, 'start', { signal });
  }
}

/** Records that the handler serving `clientAddress`, a TCP peer, has finished. */
function recordFinish(clientAddress: ClientAddress): void {
  if (clientAddress.family === 'Unix') throw new Error('expected a TCP peer, got a Unix one');
  finishedPorts.add(clientAddress.port);
  finished.emit('finish');
}

/** The recipe's first echo handler. */
class RawEchoHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    recordStart(this.clientAddress, this.request);
    for (;;) {
      const message = await this.request.recv(8192);
      if (message.length === 0) break;
      await this.request.send(message);
    }
  }

  override finish(): void {
    recordFinish(this.clientAddress);
  }
}

/** The recipe's StreamRequestHandler echo. */
class StreamEchoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    recordStart(this.clientAddress, this.request);
    for await (const line of this.rfile) await this.wfile.write(line);
  }

  override finish(): void {
    recordFinish(this.clientAddress);
  }
}

/** The echo as a line handler: every line is its own reply. */
class LineEchoHandler extends LineRequestHandler {
  override setup(): void {
    super.setup();
    recordStart(this.clientAddress, this.request);
  }

  override handleLine(line: Buffer): Buffer {
    return line;
  }

  override finish(): void {
    recordFinish(this.clientAddress);
  }
}

/** Resolves when the handler serving the client on `clientPort` has finished. */
async function handlerFinished(clientPort: number | undefined): Promise<void> {
  const signal = AbortSignal.timeout(waitMs);
  while (clientPort === undefined || !finishedPorts.has(clientPort))
    await once(finished, 'finish', { signal });
}

describe.each([
  ['BaseRequestHandler (recv/send)', RawEchoHandler],
  ['StreamRequestHandler (rfile/wfile)', StreamEchoHandler],
  ['LineRequestHandler (handleLine)', LineEchoHandler],
] as [string, RequestHandlerClass][])('echo contract: %s', (_name, Handler) => {
  it.each(['127.0.0.1', '::1'])(
    'echoes a line round trip over %s, then ends after the client does',
    async (host) => {
      const server = await startTestServer(Handler, { host });
      const client = await TestConnection.open(server.port, host);
      await client.write('Hello\n');
      expect(await client.waitForBytes(6)).toEqual(Buffer.from('Hello\n'));
      client.socket.end();
      expect(await client.waitForEnd()).toEqual(Buffer.from('Hello\n'));
      expect(server.errors).toEqual([]);
    },
  );

  it('delivers a final line without \\n at EOF', async () => {
    const server = await startTestServer(Handler);
    const client = await TestConnection.open(server.port);
    client.socket.end('first\nno newline at the end');
    expect((await client.waitForEnd()).toString()).toBe('first\nno newline at the end');
    expect(server.errors).toEqual([]);
  });

  it('echoes \\r, \\0 and invalid UTF-8 byte-exact', async () => {
    const server = await startTestServer(Handler);
    const client = await TestConnection.open(server.port);
    const data = Buffer.from([
      0x00, 0x0d, 0x0a, 0xff, 0xfe, 0xc3, 0x28, 0x0d, 0x0d, 0x0a, 0x80, 0x00, 0x0a, 0xed, 0xa0, 0x80,
    ]);
    client.socket.end(data);
    expect(await client.waitForEnd()).toEqual(data);
  });

  it('echoes 1 MiB byte-exact, written in chunks while the client reads', async () => {
    const server = await startTestServer(Handler);
    const client = await TestConnection.open(server.port);
    const data = randomBytes(1024 * 1024);
    for (let offset = 999; offset < data.length; offset += 1000) data[offset] = 0x0a;
    await client.writeInChunks(data, 16 * 1024);
    client.socket.end();
    const received = await client.waitForEnd();
    expect(received.length).toBe(data.length);
    expect(received.equals(data)).toBe(true);
    expect(server.errors).toEqual([]);
  });

  it('ends the handler of a client that vanishes mid-line, and keeps serving', async () => {
    const server = await startTestServer(Handler);
    const vanishing = await TestConnection.open(server.port);
    const vanishingPort = vanishing.socket.localPort;
    await vanishing.write('half a li');
    vanishing.socket.destroy();
    await handlerFinished(vanishingPort);

    const next = await TestConnection.open(server.port);
    await next.write('still serving\n');
    expect((await next.waitForBytes(14)).toString()).toBe('still serving\n');
  });

  it('echoes 10,000 pipelined lines sent in one write, in order', async () => {
    const server = await startTestServer(Handler);
    const client = await TestConnection.open(server.port);
    const lines = Array.from({ length: 10_000 }, (_, index) => `line ${index}\n`).join('');
    client.socket.end(lines);
    expect((await client.waitForEnd()).toString()).toBe(lines);
    expect(server.errors).toEqual([]);
  });

  it('echoes lines split across chunks of 3 bytes byte-exact', async () => {
    const server = await startTestServer(Handler);
    const client = await TestConnection.open(server.port);
    client.socket.setNoDelay(true);
    const data = Buffer.from(
      Array.from({ length: 500 }, (_, index) => `${'x'.repeat(index % 13)}${index}\n`).join(''),
    );
    await client.writeInChunks(data, 3);
    client.socket.end();
    expect((await client.waitForEnd()).equals(data)).toBe(true);
    expect(server.errors).toEqual([]);
  });

  it('stops reading a client that stops reading, holds a bounded number of bytes, and loses none', async () => {
    const server = await startTestServer(Handler);
    const client = await TestConnection.open(server.port);
    client.socket.pause(); // reads nothing until resumed
    const request = await requestServing(client.socket.localPort);
    const serverSocket = request.socket;
    const paused = once(serverSocket, 'pause', { signal: AbortSignal.timeout(waitMs) });
    const line = Buffer.alloc(1024, 'p');
    line[line.length - 1] = 0x0a;
    const data = Buffer.concat(Array.from({ length: 32 * 1024 }, () => line)); // 32 MiB
    const writing = client.writeInChunks(data, 64 * 1024);
    await paused; // the server stopped reading: its handler waits for the client
    // What the server holds for this connection: unread input and unsent output.
    const held = request.bufferedLength + serverSocket.writableLength + request.writer.gatheredLength;
    expect(held).toBeLessThan(512 * 1024);
    client.socket.resume();
    await writing;
    client.socket.end();
    const received = await client.waitForEnd();
    expect(received.length).toBe(data.length);
    expect(received.equals(data)).toBe(true);
    expect(server.errors).toEqual([]);
  });
});
