import { EventEmitter, once } from 'node:events';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClientAddress, DatagramRequest, RequestHandlerClass } from '@socketserver/core';
import { BaseDatagramRequestHandler } from './base-datagram-request-handler.js';
import { BaseRequestHandler } from './base-request-handler.js';
import { DatagramRequestHandler } from './datagram-request-handler.js';
import {
  startUDPServer,
  startUnixDatagramServer,
  UDPPeer,
  UnixPeer,
} from './test-support/datagram-test-server.js';
import { codesOf, waitMs } from './test-support/start-test-server.js';

/** Handlers report what they saw here; tests wait for it. */
const reports = new EventEmitter();

function nextReport<T>(name: string): Promise<T> {
  return once(reports, name, { signal: AbortSignal.timeout(waitMs) }).then(([report]) => report as T);
}

/** The recipe's raw form: answers the datagram with itself, through the socket of `request`. */
class RawEchoHandler extends BaseDatagramRequestHandler {
  override async handle(): Promise<void> {
    const [data, socket] = this.request;
    reports.emit('raw', { request: this.request, clientAddress: this.clientAddress });
    await socket.sendTo(data, this.clientAddress);
  }
}

/** The recipe's stream form: every line of the datagram written back, the reply sent by `finish()`. */
class StreamEchoHandler extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

class CappedEchoHandler extends StreamEchoHandler {
  static override maxLineLength = 4;
}

/** Writes nothing for `silent`, echoes anything else; reports each request once `finish()` is done. */
class SilentHandler extends StreamEchoHandler {
  override async handle(): Promise<void> {
    if (this.packet.toString() !== 'silent') await super.handle();
  }

  override async finish(): Promise<void> {
    await super.finish();
    reports.emit('silent-finished', this.packet.toString());
  }
}

/** Throws for `boom`, echoes anything else. */
class ThrowingHandler extends BaseDatagramRequestHandler {
  override async handle(): Promise<void> {
    const [data, socket] = this.request;
    if (data.toString() === 'boom') throw new Error('the handler failed');
    await socket.sendTo(data, this.clientAddress);
  }
}

/** Writes `size` bytes of `x`, whatever it got. */
class LargeReplyHandler extends DatagramRequestHandler {
  static override maxReplySize = 100_000;

  override async handle(): Promise<void> {
    await this.wfile.write(Buffer.alloc(Number(this.packet.toString()), 'x'));
  }
}

/** Reports what its packet, socket, rfile and wfile are. */
class InspectingHandler extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    const lines: string[] = [];
    for await (const line of this.rfile) lines.push(line.toString());
    await this.wfile.write('é');
    await this.wfile.write(new Uint8Array([0x21]));
    reports.emit('inspect', {
      isPacketRequest0: this.packet === this.request[0],
      isSocketRequest1: this.socket === this.request[1],
      lines,
      writtenLength: this.wfile.writtenLength,
      maxLineLength: this.rfile.maxLineLength,
      maxReplySize: this.wfile.maxReplySize,
    });
  }
}

// Type level: both forms are what a datagram server takes; a stream handler is not.
const _rawForm: RequestHandlerClass<DatagramRequest> = BaseDatagramRequestHandler;
const _streamForm: RequestHandlerClass<DatagramRequest> = DatagramRequestHandler;
const _subclass: RequestHandlerClass<DatagramRequest> = StreamEchoHandler;
// @ts-expect-error: a stream handler's request is a Socket, not [data, socket]
const _notDatagram: RequestHandlerClass<DatagramRequest> = BaseRequestHandler;

describe('BaseDatagramRequestHandler over UDP', () => {
  it("echoes the recipe's Hello with request = [data, socket], from the server's port", async () => {
    const server = await startUDPServer(RawEchoHandler);
    const client = await UDPPeer.open();
    const seen = nextReport<{ request: DatagramRequest; clientAddress: ClientAddress }>('raw');
    await client.sendTo('Hello', server.port);
    const [reply] = await client.waitFor(1);
    expect(reply?.data.toString()).toBe('Hello');
    expect(reply?.from).toBe(`127.0.0.1 ${server.port}`);
    const { request, clientAddress } = await seen;
    expect(request).toHaveLength(2);
    expect(request[0]).toEqual(Buffer.from('Hello'));
    expect(request[1]).toBe(server.socket);
    expect(clientAddress).toEqual({ host: '127.0.0.1', port: client.port, family: 'IPv4' });
    expect(server.log.errors).toEqual([]);
  });

  it('echoes on ::1', async () => {
    const server = await startUDPServer(RawEchoHandler, { host: '::1' });
    const client = await UDPPeer.open('::1');
    const seen = nextReport<{ clientAddress: ClientAddress }>('raw');
    await client.sendTo('Hello', server.port, '::1');
    const [reply] = await client.waitFor(1);
    expect(reply?.data.toString()).toBe('Hello');
    expect(reply?.from).toBe(`::1 ${server.port}`);
    expect((await seen).clientAddress).toEqual({ host: '::1', port: client.port, family: 'IPv6' });
  });

  it('reports a handler that throws to handleError and serves the next datagram', async () => {
    const server = await startUDPServer(ThrowingHandler);
    const client = await UDPPeer.open();
    await client.sendTo('boom', server.port);
    const [error] = await server.log.waitForErrors(1);
    expect((error as Error).message).toBe('the handler failed');
    await client.sendTo('after', server.port);
    const replies = await client.waitFor(1);
    expect(replies.map(({ data }) => data.toString())).toEqual(['after']);
    expect(server.log.errors).toHaveLength(1);
  });
});

describe('DatagramRequestHandler over UDP', () => {
  it('echoes several lines of one datagram in one datagram', async () => {
    const server = await startUDPServer(StreamEchoHandler);
    const client = await UDPPeer.open();
    const lines = 'one\ntwo\r\n\nthree';
    await client.sendTo(lines, server.port);
    const [reply] = await client.waitFor(1);
    expect(reply?.data.toString()).toBe(lines);
    expect(client.received).toHaveLength(1);
    expect(server.log.errors).toEqual([]);
  });

  it('sets packet, socket, rfile (lines to the packet end) and wfile (UTF-8 strings) from the request', async () => {
    const server = await startUDPServer(InspectingHandler);
    const client = await UDPPeer.open();
    const seen = nextReport<Record<string, unknown>>('inspect');
    await client.sendTo('a\nbc\nlast', server.port);
    expect(await seen).toEqual({
      isPacketRequest0: true,
      isSocketRequest1: true,
      lines: ['a\n', 'bc\n', 'last'],
      writtenLength: 3,
      maxLineLength: 65_536,
      maxReplySize: 65_507,
    });
    const [reply] = await client.waitFor(1);
    expect(reply?.data.toString()).toBe('é!');
  });

  it('sends nothing, not even an empty datagram, when the handler wrote nothing', async () => {
    const server = await startUDPServer(SilentHandler);
    const client = await UDPPeer.open();
    const silentFinished = nextReport<string>('silent-finished');
    await client.sendTo('silent', server.port);
    expect(await silentFinished).toBe('silent');
    // Anything the first request sent left before this datagram, so it would arrive first.
    await client.sendTo('ping\n', server.port);
    await client.waitFor(1);
    expect(client.received.map(({ data }) => data.toString())).toEqual(['ping\n']);
    expect(server.log.errors).toEqual([]);
  });

  it('rejects a write past maxReplySize with ERR_SEND_FAILED, sends nothing of that reply, and serves on', async () => {
    const server = await startUDPServer(StreamEchoHandler, { handlerOptions: { maxReplySize: 8 } });
    const client = await UDPPeer.open();
    await client.sendTo('short\n', server.port);
    await client.waitFor(1);

    await client.sendTo('ab\ncdefghijk\n', server.port); // 'ab\n' fits; the next line would pass 8 bytes
    const [error] = await server.log.waitForErrors(1);
    expect(error).toMatchObject({ code: 'ERR_SEND_FAILED' });
    expect((error as Error).message).toContain('maxReplySize');

    await client.sendTo('next\n', server.port);
    await client.waitFor(2);
    expect(client.received.map(({ data }) => data.toString())).toEqual(['short\n', 'next\n']);
    expect(codesOf(server.log.errors)).toEqual(['ERR_SEND_FAILED']);
  });

  it('rejects finish() with ERR_SEND_FAILED when the socket cannot send the reply', async () => {
    const server = await startUDPServer(LargeReplyHandler);
    const client = await UDPPeer.open();
    await client.sendTo('70000', server.port); // over the largest UDP payload
    const [error] = await server.log.waitForErrors(1);
    expect(error).toMatchObject({ code: 'ERR_SEND_FAILED' });

    await client.sendTo('3', server.port);
    const replies = await client.waitFor(1);
    expect(replies.map(({ data }) => data.toString())).toEqual(['xxx']);
    expect(codesOf(server.log.errors)).toEqual(['ERR_SEND_FAILED']);
  });

  it('fails the request with ERR_LINE_TOO_LONG past maxLineLength, after sending what was written', async () => {
    const server = await startUDPServer(CappedEchoHandler);
    const client = await UDPPeer.open();
    await client.sendTo('abcd\nabcde\nnot read\n', server.port);
    expect(codesOf(await server.log.waitForErrors(1))).toEqual(['ERR_LINE_TOO_LONG']);
    // As in Python, finish() sends what the handler wrote before it failed.
    const [reply] = await client.waitFor(1);
    expect(reply?.data.toString()).toBe('abcd\n');

    await client.sendTo('ok\n', server.port);
    await client.waitFor(2);
    expect(client.received.map(({ data }) => data.toString())).toEqual(['abcd\n', 'ok\n']);
  });

  it('takes maxLineLength from the server handlerOptions over the class field', async () => {
    const server = await startUDPServer(CappedEchoHandler, { handlerOptions: { maxLineLength: 8 } });
    const client = await UDPPeer.open();
    await client.sendTo('abcdefgh\n', server.port);
    const [reply] = await client.waitFor(1);
    expect(reply?.data.toString()).toBe('abcdefgh\n');
    expect(server.log.errors).toEqual([]);
  });

  it('fails each request with ERR_INVALID_OPTION when handlerOptions are invalid, sending nothing', async () => {
    const server = await startUDPServer(StreamEchoHandler, { handlerOptions: { maxReplySize: 0 } });
    const client = await UDPPeer.open();
    await client.sendTo('one\n', server.port);
    await client.sendTo('two\n', server.port);
    expect(codesOf(await server.log.waitForErrors(2))).toEqual(['ERR_INVALID_OPTION', 'ERR_INVALID_OPTION']);
    expect(client.received).toEqual([]);
  });

  it('resolves its options: handlerOptions, then the static fields; invalid ones throw', () => {
    expect(DatagramRequestHandler.resolveOptions({})).toEqual({
      maxLineLength: 65_536,
      maxReplySize: 65_507,
    });
    expect(CappedEchoHandler.resolveOptions({})).toEqual({ maxLineLength: 4, maxReplySize: 65_507 });
    expect(
      CappedEchoHandler.resolveOptions({ maxLineLength: 10, maxReplySize: 512, timeoutMs: 'ignored' }),
    ).toEqual({ maxLineLength: 10, maxReplySize: 512 });
    expect(DatagramRequestHandler.resolveOptions({ maxReplySize: undefined }).maxReplySize).toBe(65_507);
    for (const handlerOptions of [
      { maxLineLength: 0 },
      { maxLineLength: '12' },
      { maxLineLength: 1.5 },
      { maxLineLength: Number.NaN },
      { maxReplySize: 0 },
      { maxReplySize: -1 },
      { maxReplySize: '512' },
      { maxReplySize: Number.POSITIVE_INFINITY },
    ]) {
      expect(() => DatagramRequestHandler.resolveOptions(handlerOptions)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      );
    }
  });
});

describe('datagram handlers over a Unix datagram socket', () => {
  it('echo to a bound sender, raw and stream form', async () => {
    const raw = await startUnixDatagramServer(RawEchoHandler);
    const client = new UnixPeer(join(dirname(raw.serverAddress), 'client.sock'));
    const seen = nextReport<{ clientAddress: ClientAddress }>('raw');
    await client.sendTo('Hello', raw.serverAddress);
    const [reply] = await client.waitFor(1);
    expect(reply).toEqual({ data: Buffer.from('Hello'), from: raw.serverAddress });
    expect((await seen).clientAddress).toEqual({
      family: 'Unix',
      path: join(dirname(raw.serverAddress), 'client.sock'),
    });

    const stream = await startUnixDatagramServer(StreamEchoHandler);
    await client.sendTo('one\ntwo\n', stream.serverAddress);
    const replies = await client.waitFor(2);
    expect(replies[1]).toEqual({ data: Buffer.from('one\ntwo\n'), from: stream.serverAddress });
    expect([...raw.log.errors, ...stream.log.errors]).toEqual([]);
  });

  it("reports ERR_SEND_FAILED for an unnamed sender (clientAddress path ''), which cannot be answered", async () => {
    const server = await startUnixDatagramServer(StreamEchoHandler);
    const unnamed = new UnixPeer();
    await unnamed.sendTo('Hello\n', server.serverAddress);
    const [error] = await server.log.waitForErrors(1);
    expect(error).toMatchObject({ code: 'ERR_SEND_FAILED' });
    expect((error as Error).message).toContain("unnamed Unix peer ('')");

    const named = new UnixPeer(join(dirname(server.serverAddress), 'named.sock'));
    await named.sendTo('still serving\n', server.serverAddress);
    const [reply] = await named.waitFor(1);
    expect(reply?.data.toString()).toBe('still serving\n');
    expect(codesOf(server.log.errors)).toEqual(['ERR_SEND_FAILED']);
    expect(unnamed.received).toEqual([]);
  });
});
