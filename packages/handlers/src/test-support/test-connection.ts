import { EventEmitter, once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import { waitMs } from './start-test-server.js';

/**
 * A plain node:net client that keeps everything it receives and lets a test wait, with a bound, for
 * bytes, for EOF, or for the close. Half-open: `end()` sends FIN and keeps reading.
 */
export class TestConnection {
  readonly socket: Socket;
  /** The socket error, if one came (a reset by the server, say). */
  error: Error | undefined;
  #chunks: Buffer[] = [];
  #receivedLength = 0;
  #isEnded = false;
  #isClosed = false;
  readonly #changed = new EventEmitter();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#receivedLength += chunk.length;
      this.#changed.emit('change');
    });
    socket.on('drain', () => this.#changed.emit('change'));
    socket.on('end', () => this.#update(() => (this.#isEnded = true)));
    socket.on('error', (error) => this.#update(() => (this.error = error)));
    socket.on('close', () => this.#update(() => (this.#isEnded = this.#isClosed = true)));
  }

  /** Connects; the socket is destroyed when the test finishes. */
  static async open(port: number, host = '127.0.0.1'): Promise<TestConnection> {
    const socket = createConnection({ port, host, allowHalfOpen: true });
    onTestFinished(() => void socket.destroy());
    await once(socket, 'connect', { signal: AbortSignal.timeout(waitMs) });
    return new TestConnection(socket);
  }

  get receivedLength(): number {
    return this.#receivedLength;
  }

  /** Everything received so far. */
  get received(): Buffer {
    this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  /** The socket has closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Write, waiting while the socket's buffer is full; resolves at once if the socket closes. */
  async write(data: Uint8Array | string): Promise<void> {
    if (this.socket.write(data)) return;
    await this.#waitUntil(() => !this.socket.writableNeedDrain || this.#isClosed);
  }

  /** Write `data` in chunks of `chunkLength` bytes, honouring backpressure, until done or closed. */
  async writeInChunks(data: Buffer, chunkLength: number): Promise<void> {
    for (let offset = 0; offset < data.length && !this.#isClosed; offset += chunkLength) {
      await this.write(data.subarray(offset, offset + chunkLength));
    }
  }

  /** Resolves with everything received once at least `length` bytes have come, or EOF. */
  async waitForBytes(length: number): Promise<Buffer> {
    await this.#waitUntil(() => this.#receivedLength >= length || this.#isEnded);
    return this.received;
  }

  /** Resolves with everything received once the server has ended its side or the socket closed. */
  async waitForEnd(): Promise<Buffer> {
    await this.#waitUntil(() => this.#isEnded);
    return this.received;
  }

  /** Resolves once the socket has closed. */
  async waitForClose(): Promise<void> {
    await this.#waitUntil(() => this.#isClosed);
  }

  #update(change: () => void): void {
    change();
    this.#changed.emit('change');
  }

  async #waitUntil(isDone: () => boolean): Promise<void> {
    const signal = AbortSignal.timeout(waitMs);
    while (!isDone()) await once(this.#changed, 'change', { signal });
  }
}
