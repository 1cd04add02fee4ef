import { EventEmitter, once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StreamRequestHandler } from './stream-request-handler.js';
import { codesOf, startTestServer, waitMs } from './test-support/start-test-server.js';
import { TestConnection } from './test-support/test-connection.js';

/** Handlers report what they saw here; tests wait for it. */
const reports = new EventEmitter();

function nextReport<T>(name: string): Promise<T> {
  return once(reports, name, { signal: AbortSignal.timeout(waitMs) }).then(([report]) => report as T);
}

class EchoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

class CappedEchoHandler extends EchoHandler {
  static override maxLineLength = 16;
}

/** An echo handler whose reads time out after 100 ms unless `handlerOptions` say otherwise. */
class HastyEchoHandler extends EchoHandler {
  static override timeoutMs = 100;
}

/** Answers an over-long line with a message instead of ending the connection. */
class ForgivingEchoHandler extends StreamRequestHandler {
  static override maxLineLength = 8;

  override async handle(): Promise<void> {
    for (let count = 0; count < 100; count++) {
      let line: Buffer;
      try {
        line = await this.rfile.readline();
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'ERR_LINE_TOO_LONG') throw error;
        line = Buffer.from('line too long\n');
      }
      if (line.length === 0) return;
      await this.wfile.write(line);
    }
  }
}

const floodChunk = Buffer.alloc(64 * 1024, 'flood\n');
const floodChunkCount = 256;

/** After a first line, writes 16 MiB, reporting when a write must wait and how much Node buffered. */
class FloodHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    await this.rfile.readline();
    const { socket } = this.request;
    let maxWritableLength = 0;
    let waitingWrites = 0;
    for (let index = 0; index < floodChunkCount; index++) {
      const writing = this.wfile.write(floodChunk);
      maxWritableLength = Math.max(maxWritableLength, socket.writableLength);
      if (socket.writableNeedDrain && waitingWrites++ === 0) reports.emit('flood-waiting', index);
      await writing;
    }
    reports.emit('flood-done', {
      maxWritableLength,
      waitingWrites,
      highWaterMark: socket.writableHighWaterMark,
    });
  }
}

class UseAfterCloseHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    this.request.socket.destroy();
    const writeError: unknown = await this.wfile.write('too late\n').catch((error: unknown) => error);
    const readError: unknown = await this.rfile.readline().catch((error: unknown) => error);
    reports.emit('use-after-close', codesOf([writeError, readError]));
  }
}

/** For each line: its answer through wfile, then request.send, then a write straight to the socket. */
class MixedWritesHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      const name = line.toString().trim();
      await this.wfile.write(`w${name} `);
      await this.request.send(`s${name} `);
      this.request.socket.write(`d${name}\n`);
    }
  }
}

/** Answers lines until QUIT, then returns with more lines still pipelined behind it. */
class QuitHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      if (line.toString() === 'QUIT\n') break;
      await this.wfile.write(line);
    }
  }
}

describe('StreamRequestHandler', () => {
  it('keeps the order of wfile.write, request.send and direct socket writes under pipelining', async () => {
    const server = await startTestServer(MixedWritesHandler);
    const client = await TestConnection.open(server.port);
    const names = Array.from({ length: 200 }, (_, index) => String(index));
    client.socket.end(names.map((name) => `${name}\n`).join(''));
    const expected = names.map((name) => `w${name} s${name} d${name}\n`).join('');
    expect((await client.waitForEnd()).toString()).toBe(expected);
    expect(server.errors).toEqual([]);
  });

  it('sends every answer written before handle() returns, with input still unread', async () => {
    const server = await startTestServer(QuitHandler);
    const client = await TestConnection.open(server.port);
    client.socket.end('one\ntwo\nQUIT\nnever\nanswered\n');
    expect((await client.waitForEnd()).toString()).toBe('one\ntwo\n');
    expect(server.errors).toEqual([]);
  });

  it('passes a line at maxLineLength; one byte more ends the connection with ERR_LINE_TOO_LONG, once', async () => {
    const server = await startTestServer(CappedEchoHandler);
    const client = await TestConnection.open(server.port);
    const atCap = `${'x'.repeat(16)}\n`;
    await client.write(atCap);
    expect((await client.waitForBytes(atCap.length)).toString()).toBe(atCap);
    await client.write(`${'y'.repeat(17)}\n`);
    expect((await client.waitForEnd()).toString()).toBe(atCap);
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_LINE_TOO_LONG']);

    const next = await TestConnection.open(server.port);
    next.socket.end('still serving\n');
    expect((await next.waitForEnd()).toString()).toBe('still serving\n');
    expect(codesOf(server.errors)).toEqual(['ERR_LINE_TOO_LONG']);
  });

  it('lets a handler that catches ERR_LINE_TOO_LONG go on with the next line', async () => {
    const server = await startTestServer(ForgivingEchoHandler);
    const client = await TestConnection.open(server.port);
    client.socket.end(`ok\n${'z'.repeat(100)}\nnext\n`);
    expect((await client.waitForEnd()).toString()).toBe('ok\nline too long\nnext\n');
    expect(server.errors).toEqual([]);
  });

  it('takes maxLineLength from the server handlerOptions over the class field', async () => {
    const lower = await startTestServer(CappedEchoHandler, { handlerOptions: { maxLineLength: 4 } });
    const lowerClient = await TestConnection.open(lower.port);
    lowerClient.socket.end('abcd\nabcde\n');
    expect((await lowerClient.waitForEnd()).toString()).toBe('abcd\n');
    expect(codesOf(await lower.waitForErrors(1))).toEqual(['ERR_LINE_TOO_LONG']);

    const higher = await startTestServer(CappedEchoHandler, { handlerOptions: { maxLineLength: 32 } });
    const higherClient = await TestConnection.open(higher.port);
    const line = `${'w'.repeat(32)}\n`;
    higherClient.socket.end(line);
    expect((await higherClient.waitForEnd()).toString()).toBe(line);
    expect(higher.errors).toEqual([]);
  });

  it('resolves its options: handlerOptions, then the static fields; invalid ones throw', () => {
    expect(CappedEchoHandler.resolveOptions({})).toEqual({
      maxLineLength: 16,
      timeoutMs: undefined,
      disableNagleAlgorithm: false,
    });
    expect(
      CappedEchoHandler.resolveOptions({
        maxLineLength: 4,
        timeoutMs: 250,
        disableNagleAlgorithm: true,
        other: 1,
      }),
    ).toEqual({ maxLineLength: 4, timeoutMs: 250, disableNagleAlgorithm: true });
    expect(StreamRequestHandler.resolveOptions({ maxLineLength: undefined }).maxLineLength).toBe(65_536);
    // 0 turns the read timeout off, the class's own included.
    expect(HastyEchoHandler.resolveOptions({}).timeoutMs).toBe(100);
    expect(HastyEchoHandler.resolveOptions({ timeoutMs: 0 }).timeoutMs).toBeUndefined();
    for (const handlerOptions of [
      { maxLineLength: 0 },
      { maxLineLength: '12' },
      { maxLineLength: 1.5 },
      { timeoutMs: -1 },
      { timeoutMs: Number.POSITIVE_INFINITY },
      { timeoutMs: 2 ** 31 },
      { disableNagleAlgorithm: 'yes' },
    ]) {
      expect(() => StreamRequestHandler.resolveOptions(handlerOptions)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      );
    }
  });

  it('fails each connection with ERR_INVALID_OPTION when handlerOptions are invalid', async () => {
    const server = await startTestServer(EchoHandler, { handlerOptions: { maxLineLength: -1 } });
    const client = await TestConnection.open(server.port);
    await client.waitForEnd();
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_INVALID_OPTION']);
  });

  it('ends a connection whose read waits longer than timeoutMs with ERR_IDLE_TIMEOUT', async () => {
    const server = await startTestServer(EchoHandler, { handlerOptions: { timeoutMs: 300 } });
    const client = await TestConnection.open(server.port);
    await client.write('before the pause\n');
    expect((await client.waitForEnd()).toString()).toBe('before the pause\n');
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_IDLE_TIMEOUT']);
  });

  it('with timeoutMs: 0 (off), a read waits: a line sent 300 ms after the last is echoed', async () => {
    const server = await startTestServer(HastyEchoHandler, { handlerOptions: { timeoutMs: 0 } });
    const client = await TestConnection.open(server.port);
    await client.write('first\n');
    expect((await client.waitForBytes(6)).toString()).toBe('first\n');
    await delay(300); // the silence is what is tested
    expect(client.socket.readableEnded).toBe(false);
    expect(server.errors).toEqual([]);
    await client.write('second\n');
    expect((await client.waitForBytes(13)).toString()).toBe('first\nsecond\n');
    expect(server.errors).toEqual([]);
  });

  it("without it, the class's small timeoutMs ends that connection in the pause", async () => {
    const server = await startTestServer(HastyEchoHandler);
    const client = await TestConnection.open(server.port);
    await client.write('first\n');
    expect((await client.waitForEnd()).toString()).toBe('first\n');
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_IDLE_TIMEOUT']);
  });

  it('fails a 10 MiB line without a newline at the cap, holding no more than about the cap', async () => {
    const server = await startTestServer(EchoHandler);
    const client = await TestConnection.open(server.port);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const baseline = process.memoryUsage();
    let peakArrayBuffers = baseline.arrayBuffers;
    let peakHeapUsed = baseline.heapUsed;
    let written = 0;
    for (let index = 0; index < 160 && !client.isClosed; index++) {
      await client.write(chunk);
      written += chunk.length;
      const { arrayBuffers, heapUsed } = process.memoryUsage();
      peakArrayBuffers = Math.max(peakArrayBuffers, arrayBuffers);
      peakHeapUsed = Math.max(peakHeapUsed, heapUsed);
    }

    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_LINE_TOO_LONG']);
    expect((await client.waitForEnd()).length).toBe(0);
    expect(written).toBeGreaterThan(64 * 1024);
    expect(peakArrayBuffers - baseline.arrayBuffers).toBeLessThan(4 * 1024 * 1024);
    expect(peakHeapUsed - baseline.heapUsed).toBeLessThan(8 * 1024 * 1024);
  });

  it('makes wfile.write wait for a client that stops reading, with bounded buffering', async () => {
    const server = await startTestServer(FloodHandler);
    const client = await TestConnection.open(server.port);
    client.socket.pause();
    const waiting = nextReport<number>('flood-waiting');
    const done = nextReport<{ maxWritableLength: number; waitingWrites: number; highWaterMark: number }>(
      'flood-done',
    );
    await client.write('go\n');

    expect(await waiting).toBeLessThan(floodChunkCount);
    client.socket.resume();
    const { maxWritableLength, waitingWrites, highWaterMark } = await done;
    expect(waitingWrites).toBeGreaterThan(0);
    expect(maxWritableLength).toBeLessThanOrEqual(highWaterMark + floodChunk.length);

    const received = await client.waitForBytes(floodChunk.length * floodChunkCount);
    expect(received.length).toBe(floodChunk.length * floodChunkCount);
    expect(received.equals(Buffer.concat(Array.from({ length: floodChunkCount }, () => floodChunk)))).toBe(
      true,
    );
    expect(server.errors).toEqual([]);
  });

  it('ends a write waiting for drain when the client goes away', async () => {
    const server = await startTestServer(FloodHandler);
    const client = await TestConnection.open(server.port);
    client.socket.pause();
    const waiting = nextReport<number>('flood-waiting');
    await client.write('go\n');
    await waiting;
    client.socket.destroy();
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_CONNECTION_CLOSED']);
  });

  it('rejects writes and reads on a closed connection with ERR_CONNECTION_CLOSED', async () => {
    const server = await startTestServer(UseAfterCloseHandler);
    const report = nextReport<unknown[]>('use-after-close');
    await TestConnection.open(server.port);
    expect(await report).toEqual(['ERR_CONNECTION_CLOSED', 'ERR_CONNECTION_CLOSED']);
  });
});
