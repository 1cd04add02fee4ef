import { EventEmitter, once } from 'node:events';
import net, { type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SocketWriter, type BufferedInput } from './socket-writer.js';
import { waitMs } from './test-support/start-test-server.js';

/** A connected loopback pair: the server's socket (written to) and the client's (read from). */
async function socketPair(): Promise<{ serverSide: Socket; clientSide: Socket }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening', { signal: AbortSignal.timeout(waitMs) });
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection', { signal: AbortSignal.timeout(waitMs) });
  const clientSide = net.connect(port, '127.0.0.1');
  const [serverSide] = (await accepted) as [Socket];
  listener.close();
  onTestFinished(() => {
    serverSide.destroy();
    clientSide.destroy();
  });
  return { serverSide, clientSide };
}

/** Reads from `socket` until `length` bytes came, bounded in time. */
async function receive(socket: Socket, length: number): Promise<string> {
  const chunks: Buffer[] = [];
  let received = 0;
  const signal = AbortSignal.timeout(waitMs);
  while (received < length) {
    const [chunk] = (await once(socket, 'data', { signal })) as [Buffer];
    chunks.push(chunk);
    received += chunk.length;
  }
  return Buffer.concat(chunks).toString();
}

/** Records what is passed to the socket's `write` from now on. */
function recordWrites(socket: Socket): Uint8Array[] {
  const written: Uint8Array[] = [];
  const write = socket.write.bind(socket);
  socket.write = (data: Uint8Array) => {
    written.push(data);
    return write(data);
  };
  return written;
}

describe('SocketWriter', () => {
  it('without input, sends every write at once', async () => {
    const { serverSide, clientSide } = await socketPair();
    const writer = new SocketWriter(serverSide);
    await writer.write('one\n');
    expect(serverSide.writableCorked).toBe(0);
    expect(await receive(clientSide, 4)).toBe('one\n');
  });

  it('gathers writes while input is buffered and sends them in one write once it is used up', async () => {
    const { serverSide, clientSide } = await socketPair();
    const socketWrites = recordWrites(serverSide);
    const input: { bufferedLength: number } & BufferedInput = { bufferedLength: 8 };
    const writer = new SocketWriter(serverSide, { input });
    await writer.write('one\n');
    await writer.write(Buffer.from('two\n'));
    expect(writer.gatheredLength).toBe(8); // held: more answers are coming
    expect(socketWrites).toHaveLength(0);
    input.bufferedLength = 0;
    await writer.write('three\n'); // the answer to the last buffered request sends them all
    expect(writer.gatheredLength).toBe(0);
    expect(socketWrites).toHaveLength(1);
    expect(await receive(clientSide, 14)).toBe('one\ntwo\nthree\n');
  });

  it('joins writes that lie next to each other in memory without copying them', async () => {
    const { serverSide, clientSide } = await socketPair();
    const sent = recordWrites(serverSide);
    const input = { bufferedLength: 1 };
    const writer = new SocketWriter(serverSide, { input });
    const chunk = Buffer.from('a\nbb\nccc\n');
    await writer.write(chunk.subarray(0, 2));
    await writer.write(chunk.subarray(2, 5));
    input.bufferedLength = 0;
    await writer.write(chunk.subarray(5));
    expect(sent).toHaveLength(1);
    expect(sent[0]?.buffer).toBe(chunk.buffer); // a view of the received bytes, not a copy
    expect(await receive(clientSide, chunk.length)).toBe('a\nbb\nccc\n');
  });

  it('never holds a write past the current tick, whatever the input', async () => {
    const { serverSide, clientSide } = await socketPair();
    const writer = new SocketWriter(serverSide, { input: { bufferedLength: 100 } });
    await writer.write('held\n');
    expect(writer.gatheredLength).toBe(5);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writer.gatheredLength).toBe(0);
    expect(await receive(clientSide, 5)).toBe('held\n');
  });

  it('sends at once past 16 KiB gathered, and flush() sends what is gathered', async () => {
    const { serverSide, clientSide } = await socketPair();
    const writer = new SocketWriter(serverSide, { input: { bufferedLength: 100 } });
    for (let index = 0; index < 16; index++) writer.gather(Buffer.alloc(1023, 'x'));
    expect(writer.gatheredLength).toBe(16 * 1023);
    writer.gather('y'.repeat(16)); // 16 384 bytes: sent
    expect(writer.gatheredLength).toBe(0);
    writer.gather('z\n');
    expect(writer.flush()).toBe(true);
    expect(writer.gatheredLength).toBe(0);
    const received = await receive(clientSide, 16 * 1024 + 2);
    expect(received.endsWith(`${'y'.repeat(16)}z\n`)).toBe(true);
  });

  it('makes gathered writes wait while the socket is full, and loses nothing', async () => {
    const { serverSide, clientSide } = await socketPair();
    clientSide.pause(); // a client that stops reading
    let receivedLength = 0;
    const received = new EventEmitter();
    clientSide.on('data', (chunk: Buffer) => {
      receivedLength += chunk.length;
      received.emit('data');
    });
    const writer = new SocketWriter(serverSide, { input: { bufferedLength: 100 } });
    const block = Buffer.alloc(64 * 1024, 'b');
    let waited = false;
    let written = 0;
    for (let index = 0; index < 512 && !waited; index++) {
      const writing = writer.write(block);
      written += block.length;
      if (serverSide.writableNeedDrain) {
        waited = true;
        let isSettled = false;
        void writing.then(() => (isSettled = true));
        await new Promise((resolve) => setImmediate(resolve));
        expect(isSettled).toBe(false); // waits for the client
        clientSide.resume();
        await writing;
      } else await writing;
    }
    expect(waited).toBe(true);
    expect(serverSide.writableLength).toBeLessThanOrEqual(written);
    const signal = AbortSignal.timeout(waitMs);
    while (receivedLength < written) await once(received, 'data', { signal });
    expect(receivedLength).toBe(written);
  });

  it('rejects with ERR_CONNECTION_CLOSED once the socket is closed', async () => {
    const { serverSide } = await socketPair();
    const writer = new SocketWriter(serverSide);
    serverSide.destroy();
    await expect(writer.write('late\n')).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
  });
});
