import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BaseRequestHandler } from './base-request-handler.js';
import { codesOf, startTestServer, waitMs } from './test-support/start-test-server.js';
import { TestConnection } from './test-support/test-connection.js';

/** Handlers report what they saw here; tests wait for it. */
const reports = new EventEmitter();

function nextReport<T>(name: string): Promise<T> {
  return once(reports, name, { signal: AbortSignal.timeout(waitMs) }).then(([report]) => report as T);
}

/** Echoes with recv(100), reporting every length read and sent, the empty read at EOF included. */
class SmallRecvHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    const received: number[] = [];
    const sent: number[] = [];
    for (let read = 0; read < 100_000; read++) {
      const message = await this.request.recv(100);
      received.push(message.length);
      if (message.length === 0) break;
      sent.push(await this.request.send(message));
    }
    reports.emit('small-recv', { received, sent });
  }
}

/** Reads one byte, then waits for its socket to pause before reading the rest. */
class SlowReaderHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    const { socket } = this.request;
    const paused = once(socket, 'pause', { signal: AbortSignal.timeout(waitMs) });
    let total = (await this.request.recv(1)).length;
    await paused;
    const bytesReadAtPause = socket.bytesRead;
    for (
      let chunk = await this.request.recv(65_536);
      chunk.length > 0;
      chunk = await this.request.recv(65_536)
    ) {
      total += chunk.length;
    }
    reports.emit('slow-reader', { bytesReadAtPause, total });
  }
}

/** Reads to EOF and reports what it got. */
class ReadToEofHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    const chunks: Buffer[] = [];
    for (let chunk = await this.request.recv(8192); chunk.length > 0; chunk = await this.request.recv(8192)) {
      chunks.push(chunk);
    }
    reports.emit('read-to-eof', Buffer.concat(chunks));
  }
}

class ThrowingHandler extends BaseRequestHandler {
  override handle(): void {
    throw new Error('the handler failed');
  }

  override finish(): void {
    reports.emit('finish-after-throw');
  }
}

class GreetingHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    const sent = await this.request.send('héllo\n');
    await this.request.sendAll(new Uint8Array([0x62, 0x79, 0x65, 0x0a]));
    reports.emit('greeting-sent', sent);
  }
}

/** Asks for two reads at once, then echoes what each got, in order. */
class OverlappingRecvHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    const reads = await Promise.all([this.request.recv(3), this.request.recv(3), this.request.recv(3)]);
    reports.emit(
      'overlapping-recv',
      reads.map((read) => read.toString()),
    );
  }
}

class ZeroRecvHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    await this.request.recv(0);
  }
}

describe('BaseRequestHandler', () => {
  it('recv(100) never returns more than 100 bytes, and an empty Buffer at EOF', async () => {
    const server = await startTestServer(SmallRecvHandler);
    const client = await TestConnection.open(server.port);
    const report = nextReport<{ received: number[]; sent: number[] }>('small-recv');
    const data = randomBytes(10 * 1024);
    await client.write(data);
    expect((await client.waitForBytes(data.length)).equals(data)).toBe(true);
    client.socket.end();

    const { received, sent } = await report;
    expect(received.at(-1)).toBe(0);
    const reads = received.slice(0, -1);
    expect(reads.every((length) => length >= 1 && length <= 100)).toBe(true);
    expect(reads.reduce((sum, length) => sum + length, 0)).toBe(data.length);
    expect(sent).toEqual(reads);
    expect((await client.waitForEnd()).length).toBe(data.length);
  });

  it('send() resolves with the number of bytes sent, a string counted as UTF-8', async () => {
    const server = await startTestServer(GreetingHandler);
    const sent = nextReport<number>('greeting-sent');
    const client = await TestConnection.open(server.port);
    expect((await client.waitForEnd()).toString()).toBe('héllo\nbye\n');
    expect(await sent).toBe(7);
  });

  it('pauses the socket while the handler does not read, and resumes when it reads again', async () => {
    const server = await startTestServer(SlowReaderHandler);
    const client = await TestConnection.open(server.port);
    const report = nextReport<{ bytesReadAtPause: number; total: number }>('slow-reader');
    const data = randomBytes(1024 * 1024);
    await client.writeInChunks(data, 64 * 1024);
    client.socket.end();

    const { bytesReadAtPause, total } = await report;
    // The high-water mark (64 KiB) plus the chunk that crossed it, at most.
    expect(bytesReadAtPause).toBeLessThanOrEqual(128 * 1024);
    expect(total).toBe(data.length);
    expect(server.errors).toEqual([]);
  });

  it('reads a peer reset as EOF, not as a failure', async () => {
    const server = await startTestServer(ReadToEofHandler);
    const client = await TestConnection.open(server.port);
    const report = nextReport<Buffer>('read-to-eof');
    await client.write('abc');
    client.socket.resetAndDestroy();

    expect('abc'.startsWith((await report).toString())).toBe(true);
    expect(server.errors).toEqual([]);
  });

  it('runs finish() when handle() throws, reports the error, and closes the connection', async () => {
    const server = await startTestServer(ThrowingHandler);
    const finished = nextReport<undefined>('finish-after-throw');
    const client = await TestConnection.open(server.port);
    await finished;
    const [error] = await server.waitForErrors(1);
    expect(error).toMatchObject({ message: 'the handler failed' });
    await client.waitForEnd();
  });

  it('recv() calls made at once are served in order, each with its own bytes', async () => {
    const server = await startTestServer(OverlappingRecvHandler);
    const report = nextReport<string[]>('overlapping-recv');
    const client = await TestConnection.open(server.port);
    await client.write('abcdefghi');
    const reads = await report;
    // However the bytes arrive, each read takes 1-3 of them, in the order the reads were made.
    expect(reads.every((read) => read.length >= 1 && read.length <= 3)).toBe(true);
    expect('abcdefghi'.startsWith(reads.join(''))).toBe(true);
    await client.waitForEnd();
  });

  it('rejects recv() of a size that is not a positive integer', async () => {
    const server = await startTestServer(ZeroRecvHandler);
    const client = await TestConnection.open(server.port);
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_INVALID_OPTION']);
    await client.waitForEnd();
  });
});
