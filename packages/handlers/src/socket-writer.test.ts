import { once } from 'node:events';
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

describe('SocketWriter', () => {
  it('without input, sends every write at once', async () => {
    const { serverSide, clientSide } = await socketPair();
    const writer = new SocketWriter(serverSide);
    await writer.write('one\n');
    expect(serverSide.writableCorked).toBe(0);
    expect(await receive(clientSide, 4)).toBe('one\n');
  });

  it('holds writes while input is buffered and sends them together once it is used up', async () => {
    const { serverSide, clientSide } = await socketPair();
    const input: { bufferedLength: number } & BufferedInput = { bufferedLength: 8 };
    const writer = new SocketWriter(serverSide, { input });
    await writer.write('one\n');
    await writer.write('two\n');
    expect(serverSide.writableCorked).toBe(1); // held: more answers are coming
    expect(serverSide.writableLength).toBe(8);
    input.bufferedLength = 0;
    await writer.write('three\n'); // the answer to the last buffered request sends them all
    expect(serverSide.writableCorked).toBe(0);
    expect(await receive(clientSide, 14)).toBe('one\ntwo\nthree\n');
  });

  it('never holds a write past the current tick, whatever the input', async () => {
    const { serverSide, clientSide } = await socketPair();
    const writer = new SocketWriter(serverSide, { input: { bufferedLength: 100 } });
    await writer.write('held\n');
    expect(serverSide.writableCorked).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(serverSide.writableCorked).toBe(0);
    expect(await receive(clientSide, 5)).toBe('held\n');
  });

  it('rejects with ERR_CONNECTION_CLOSED once the socket is closed', async () => {
    const { serverSide } = await socketPair();
    const writer = new SocketWriter(serverSide);
    serverSide.destroy();
    await expect(writer.write('late\n')).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
  });
});
