import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connect } from './connect.js';
import { connectPair, echo, listen, waitMs } from './test-support/loopback-server.js';

const mebibyte = 1024 * 1024;

/** The server's side ends with `data` once connected. */
function replyAndEnd(data: string | Buffer): (socket: Socket) => void {
  return (socket) => void socket.end(data);
}

describe('TestClient: sending and receiving', () => {
  it("runs the recipe session: send(b'Hello\\n') returns 6, recv(8192) gets the echo", async () => {
    const { port } = await listen(echo);
    await using client = await connect('localhost', port);
    expect(await client.send('Hello\n')).toBe(6);
    expect((await client.recv(8192)).toString()).toBe('Hello\n');
    await client.close();
  });

  it('send resolves with the byte count: UTF-8 bytes for strings, the length for bytes, 0 for nothing', async () => {
    const { client } = await connectPair(await listen(echo));
    expect(await client.send('héllo')).toBe(6);
    expect(await client.send(new Uint8Array([1, 2, 3]))).toBe(3);
    expect(await client.send('')).toBe(0);
    expect((await client.recvExactly(9)).equals(Buffer.from([...Buffer.from('héllo'), 1, 2, 3]))).toBe(true);
  });

  it('recv(n) never returns more than n bytes and keeps the rest for the next call', async () => {
    const { client } = await connectPair(await listen(replyAndEnd('abcdefghij')));
    const pieces: Buffer[] = [];
    for (let reads = 0; reads < 10; reads += 1) {
      const piece = await client.recv(3);
      expect(piece.length).toBeLessThanOrEqual(3);
      if (piece.length === 0) break;
      pieces.push(piece);
    }
    expect(Buffer.concat(pieces).toString()).toBe('abcdefghij');
  });

  it('recv(n) reassembles any echoed byte stream, never returning more than n bytes', async () => {
    const server = await listen(echo);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 4096 }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 5000 }),
        async (chunks, maxBytes) => {
          const { client } = await connectPair(server);
          for (const chunk of chunks) await client.sendAll(chunk);
          await client.shutdownWrite();
          const expected = Buffer.concat(chunks);
          const pieces: Buffer[] = [];
          for (let reads = 0; reads <= expected.length; reads += 1) {
            const piece = await client.recv(maxBytes);
            expect(piece.length).toBeLessThanOrEqual(maxBytes);
            if (piece.length === 0) break;
            pieces.push(piece);
          }
          expect(Buffer.concat(pieces).equals(expected)).toBe(true);
          await client.close();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('recv returns an empty Buffer at EOF, and again on every later call', async () => {
    const { client } = await connectPair(await listen(replyAndEnd('bye')));
    expect((await client.recv(8192)).toString()).toBe('bye');
    expect(await client.recv(8192)).toHaveLength(0);
    expect(await client.recv(8192)).toHaveLength(0);
  });

  it('readline returns each line with its terminator, then the final partial line, then empty Buffers', async () => {
    const { client } = await connectPair(await listen(replyAndEnd('one\ntwo\r\nthree')));
    const lines = [];
    for (let reads = 0; reads < 5; reads += 1) lines.push((await client.readline()).toString());
    expect(lines).toEqual(['one\n', 'two\r\n', 'three', '', '']);
  });

  it('readline splits any echoed text into the same lines as the text has', async () => {
    const server = await listen(echo);
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: fc.constantFrom('a', 'é', '\r', '\n'), maxLength: 300 }),
        async (text) => {
          const { client } = await connectPair(server);
          await client.sendAll(text);
          await client.shutdownWrite();
          const expected = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
          const lines: string[] = [];
          for (let reads = 0; reads <= expected.length; reads += 1) {
            const line = await client.readline();
            if (line.length === 0) break;
            lines.push(line.toString());
          }
          expect(lines).toEqual(expected);
          await client.close();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('readline accepts maxLineLength bytes plus the newline; a longer line fails and stays readable', async () => {
    const { client, peer } = await connectPair(await listen(replyAndEnd('12345\n123456\n1234567')));
    expect((await client.readline({ maxLineLength: 5 })).toString()).toBe('12345\n');
    await expect(client.readline({ maxLineLength: 5 })).rejects.toMatchObject({
      code: 'ERR_LINE_TOO_LONG',
      message: `Line from 127.0.0.1:${peer.localPort} is longer than 5 bytes`,
    });
    expect((await client.readline({ maxLineLength: 6 })).toString()).toBe('123456\n');
    await expect(client.readline({ maxLineLength: 6 })).rejects.toMatchObject({ code: 'ERR_LINE_TOO_LONG' });
    expect((await client.recvUntilClosed()).toString()).toBe('1234567');
  });

  it('recvExactly fails with ERR_UNEXPECTED_EOF when the server closes early, keeping the partial bytes', async () => {
    const { client, peer } = await connectPair(await listen(replyAndEnd('abc')));
    await expect(client.recvExactly(5)).rejects.toMatchObject({
      code: 'ERR_UNEXPECTED_EOF',
      message: `127.0.0.1:${peer.localPort} closed the connection after 3 of 5 bytes`,
    });
    expect((await client.recv(5)).toString()).toBe('abc');
  });

  it('round-trips 1 MiB of random bytes byte-exact through an echo server', async () => {
    const { client } = await connectPair(await listen(echo));
    const payload = randomBytes(mebibyte);
    const [received] = await Promise.all([client.recvExactly(payload.length), client.sendAll(payload)]);
    expect(received.equals(payload)).toBe(true);
  });

  it('reads 4 MiB, beyond the 1 MiB high-water mark, whole or in pieces, without losing a byte', async () => {
    const payload = randomBytes(4 * mebibyte);
    const { client } = await connectPair(await listen(replyAndEnd(payload)));
    const pieces = [await client.recvExactly(1.5 * mebibyte)];
    for (let reads = 0; reads < payload.length; reads += 1) {
      const piece = await client.recv(64 * 1024);
      if (piece.length === 0) break;
      pieces.push(piece);
    }
    expect(Buffer.concat(pieces).equals(payload)).toBe(true);
  });

  it('recvUntilClosed returns every byte until EOF', async () => {
    const payload = randomBytes(3 * mebibyte);
    const { client } = await connectPair(await listen(replyAndEnd(payload)));
    expect((await client.recvUntilClosed()).equals(payload)).toBe(true);
  });

  it('a read times out with ERR_TIMEOUT naming the server, and the connection stays usable', async () => {
    const { client, peer } = await connectPair(await listen(echo));
    await expect(client.recv(1, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      message: `recv() on 127.0.0.1:${peer.localPort} timed out after 50 ms`,
    });
    await client.sendAll('still here');
    expect((await client.recvExactly(10)).toString()).toBe('still here');
  });

  it('send waits for the kernel to take the data: against a server that stops reading it times out', async () => {
    const { client, peer } = await connectPair(await listen((socket) => socket.pause()));
    await expect(client.send(Buffer.alloc(64 * mebibyte), { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
    });
    peer.resume();
    expect(await client.send('after')).toBe(5);
  });

  it('shutdownWrite half-closes: the server sees EOF and still replies; sending afterwards fails', async () => {
    const server = await listen((socket) => {
      let byteCount = 0;
      socket.on('data', (chunk: Buffer) => (byteCount += chunk.length));
      socket.on('end', () => socket.end(`got ${byteCount} bytes`));
    });
    const { client } = await connectPair(server);
    await client.sendAll('hello');
    await client.shutdownWrite();
    await expect(client.send('more')).rejects.toMatchObject({ code: 'ERR_WRITE_AFTER_SHUTDOWN' });
    expect((await client.recvUntilClosed()).toString()).toBe('got 5 bytes');
  });

  it('a second read while one waits fails with ERR_READ_IN_PROGRESS; the first goes on', async () => {
    const { client, peer } = await connectPair(await listen());
    const first = client.recvExactly(5);
    await expect(client.readline()).rejects.toMatchObject({ code: 'ERR_READ_IN_PROGRESS' });
    peer.write('hello');
    expect((await first).toString()).toBe('hello');
  });

  it('rejects bad arguments with ERR_INVALID_ARGUMENT, never throwing synchronously', async () => {
    const { client } = await connectPair(await listen());
    const calls = [
      () => client.recv(0),
      () => client.recv(1.5),
      () => client.recvExactly(-1),
      () => client.recv(1, { timeoutMs: 0 }),
      () => client.send('x', { timeoutMs: Number.POSITIVE_INFINITY }),
      () => client.readline({ maxLineLength: 0 }),
    ];
    for (const call of calls) await expect(call()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('TestClient: closing, resets and use after close', () => {
  it('a server reset fails reads and sends with ERR_CONNECTION_RESET; waitForClose resolves', async () => {
    const { client } = await connectPair(
      await listen((socket) => socket.once('data', () => socket.resetAndDestroy())),
    );
    await client.sendAll('x');
    await expect(client.recv(1)).rejects.toMatchObject({
      code: 'ERR_CONNECTION_RESET',
      cause: { code: 'ECONNRESET' },
    });
    await expect(client.send('y')).rejects.toMatchObject({ code: 'ERR_CONNECTION_RESET' });
    await client.waitForClose();
  });

  it('waitForClose resolves when the server ends the connection, leaving its last bytes readable', async () => {
    const { client } = await connectPair(await listen(replyAndEnd('last words')));
    await client.waitForClose();
    expect((await client.recv(100)).toString()).toBe('last words');
    expect(await client.recv(100)).toHaveLength(0);
  });

  it('waitForClose times out with ERR_TIMEOUT while the server keeps the connection open', async () => {
    const { client } = await connectPair(await listen());
    await expect(client.waitForClose({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });

  it('close is idempotent, returns one promise, and the server sees a clean EOF', async () => {
    const { client, peer } = await connectPair(await listen());
    const peerEnded = once(peer.resume(), 'end', { signal: AbortSignal.timeout(waitMs) });
    const closing = client.close();
    expect(client.close()).toBe(closing);
    await closing;
    await peerEnded;
    await client.close();
  });

  it('await using closes the client at the end of the block', async () => {
    const { client, peer } = await connectPair(await listen());
    const peerEnded = once(peer.resume(), 'end', { signal: AbortSignal.timeout(waitMs) });
    {
      await using scoped = client;
      expect(await scoped.send('bye')).toBe(3);
    }
    await peerEnded;
    await expect(client.recv(1)).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
  });

  it('use after close fails with ERR_CLIENT_CLOSED, and so does a read that was waiting', async () => {
    const { client, peer } = await connectPair(await listen());
    const waiting = expect(client.recv(1)).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
    await client.close();
    await waiting;
    const calls = [
      () => client.send('x'),
      () => client.sendAll('x'),
      () => client.recv(1),
      () => client.recvExactly(1),
      () => client.readline(),
      () => client.recvUntilClosed(),
      () => client.waitForClose(),
      () => client.shutdownWrite(),
    ];
    for (const call of calls) await expect(call()).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
    await expect(client.send('x')).rejects.toThrow(`send() on 127.0.0.1:${peer.localPort} after close()`);
  });

  it('destroy resets the connection at once, and close() still resolves', async () => {
    const { client, peer } = await connectPair(await listen());
    const peerError = once(peer.resume(), 'error', { signal: AbortSignal.timeout(waitMs) });
    client.destroy();
    await client.close();
    expect((await peerError)[0]).toMatchObject({ code: 'ECONNRESET' });
  });
});
