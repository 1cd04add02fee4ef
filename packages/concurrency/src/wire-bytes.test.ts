import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UDPServer, type ClientAddress, type DatagramRequest } from '@socketserver/core';
import { forking, pool, type WorkerPool } from '@socketserver/concurrency';
import { fromWireBytes, toWireBytes } from '../dist/handoff-protocol.js';
import { serve, UDPClient, type UDPReply } from './test-support/datagram-servers.js';
import { DatagramCommandHandler } from './test-support/datagram-handlers.js';

/** A UDPServer serving {@link DatagramCommandHandler}, datagrams cut at 1,024 bytes, that records its errors. */
class WireBytesServer extends UDPServer {
  declare readonly strategy: WorkerPool<DatagramRequest>;
  readonly errors: unknown[] = [];

  constructor(strategy: WorkerPool<DatagramRequest>, handlerOptions: Record<string, unknown> = {}) {
    super(['127.0.0.1', 0], DatagramCommandHandler, { strategy, handlerOptions, maxPacketSize: 1024 });
  }

  override handleError(_request: DatagramRequest | undefined, _client: ClientAddress, error: unknown): void {
    this.errors.push(error);
  }

  override handleServerError(error: unknown): void {
    this.errors.push(error);
  }
}

/** Send `data` (bytes) to `port`, then wait for the next datagram. */
async function request(client: UDPClient, data: Uint8Array | string, port: number): Promise<UDPReply> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  client.socket.send(data, port, client.host, (error) => (error ? reject(error) : resolve()));
  await promise;
  return client.inbox.next(`an answer to a datagram of ${data.length} bytes`);
}

/** `length` bytes counting up from `start`, wrapping: every byte value, none of them text. */
function bytes(length: number, start = 0): Buffer {
  return Buffer.from(Array.from({ length }, (_, index) => (start + index) % 256));
}

const strategies: { label: string; create: () => WorkerPool<DatagramRequest> }[] = [
  { label: "pool({ kind: 'thread' })", create: () => pool({ workers: 2 }) },
  { label: "pool({ kind: 'process' })", create: () => pool({ workers: 2, kind: 'process' }) },
  {
    label: 'forking({ reuseChildren: true, maxChildren: 2 })',
    create: () => forking({ reuseChildren: true, maxChildren: 2 }),
  },
];

// Values JSON could not carry, or would have changed: a child process now gets them as a thread does.
const handlerOptions = {
  date: new Date(0),
  map: new Map([['a', 1]]),
  big: 10n,
  infinite: Number.POSITIVE_INFINITY,
  nothing: undefined,
  bytes: new Uint8Array([0, 1, 254, 255]),
};

describe.each(strategies)('datagram bytes to and from workers, $label', ({ create }) => {
  let server: WireBytesServer;
  let serving: Promise<void>;
  let client: UDPClient;

  beforeAll(async () => {
    server = new WireBytesServer(create(), handlerOptions);
    serving = serve(server);
    await server.listening;
  });

  afterAll(async () => {
    await server.serverClose();
    await serving;
    expect(server.strategy.workerCount).toBe(0);
  });

  beforeEach(async () => {
    server.errors.length = 0;
    client = await UDPClient.open();
  });

  it('carry every byte value both ways, unchanged', async () => {
    for (const length of [1, 255, 256, 1024]) {
      const sent = bytes(length, length);
      const echo = await request(client, sent, server.port);
      expect(echo.data.equals(sent)).toBe(true);
    }
    expect(server.errors).toEqual([]);
  });

  it('reach the handler as a Buffer', async () => {
    const answer = await request(client, '!kind', server.port);
    expect(answer.data.toString()).toBe('Buffer true');
  });

  it("carry just a view's bytes, as they were at sendTo", async () => {
    const answer = await request(client, '!view', server.port);
    expect(answer.data.toString()).toBe('VIEW');
    expect(server.errors).toEqual([]);
  });

  it('carry a truncated datagram as its first maxPacketSize bytes (a view of what arrived)', async () => {
    const sent = bytes(1500, 7);
    const echo = await request(client, sent, server.port);
    expect(echo.data.equals(sent.subarray(0, 1024))).toBe(true);
  });

  it('keep each of many datagrams in flight at once apart', async () => {
    // 40 distinct 1 KiB datagrams at once (40 KiB, well within loopback's buffers): a child's
    // channel reads several messages into one chunk, and each Buffer is a view of it.
    const sent = Array.from({ length: 40 }, (_, index) => bytes(1024, index));
    for (const data of sent) client.socket.send(data, server.port, client.host);
    const echoes: string[] = [];
    for (const data of sent)
      echoes.push((await client.inbox.next(`echo of ${data[0]}`)).data.toString('hex'));
    expect(echoes.toSorted()).toEqual(sent.map((data) => data.toString('hex')).toSorted());
    expect(server.errors).toEqual([]);
  });

  it('hand over handlerOptions as structured clone copies them', async () => {
    const answer = await request(client, '!options', server.port);
    expect(JSON.parse(answer.data.toString())).toEqual({
      date: ['Date', '1970-01-01T00:00:00.000Z'],
      map: ['Map', '[["a",1]]'],
      big: ['bigint', '10'],
      infinite: ['number', 'Infinity'],
      nothing: ['undefined', 'undefined'],
      bytes: ['Uint8Array', '0001feff'],
    });
  });
});

describe('handlerOptions that structured clone cannot copy', () => {
  it.each(['thread', 'process'] as const)('fail the start of a %s worker with the reason', async (kind) => {
    const server = new WireBytesServer(pool({ workers: 1, kind }), { callback: () => 1 });
    try {
      const error: unknown = await server.serveForever().then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toMatchObject({ code: 'ERR_WORKER_START_FAILED' });
      expect((error as Error).message).toMatch(
        /could not be sent the handler and its settings: .*could not be cloned/,
      );
    } finally {
      await server.serverClose();
    }
    expect(server.strategy.workerCount).toBe(0);
  });
});

describe('toWireBytes and fromWireBytes', () => {
  const whole = Buffer.from('..bytes..');
  const view = whole.subarray(2, 7);

  it("give a child process's channel the bytes themselves: it copies just the view", () => {
    expect(toWireBytes(view, 'process')).toBe(view);
  });

  it('give a thread a copy of just the view, over an ArrayBuffer of its own to transfer', () => {
    const wire = toWireBytes(view, 'thread');
    expect(wire).not.toBeInstanceOf(Buffer);
    expect(wire.byteOffset).toBe(0);
    expect(wire.buffer.byteLength).toBe(5);
    expect(Buffer.from(wire).toString()).toBe('bytes');
  });

  it('make a Buffer over the same memory, without copying', () => {
    expect(fromWireBytes(view)).toBe(view);
    const memory = Buffer.from('..bytes..');
    const u8 = new Uint8Array(memory.buffer, memory.byteOffset + 2, 5);
    const received = fromWireBytes(u8);
    expect(Buffer.isBuffer(received)).toBe(true);
    expect(received.toString()).toBe('bytes');
    u8[0] = 0x42;
    expect(received.toString()).toBe('Bytes');
    expect(fromWireBytes(new Uint8Array(0)).length).toBe(0);
  });
});
