// The soak suite's client side: TCP connections to the echo server on 127.0.0.1 whose echo is
// checked byte for byte as it arrives (EchoChecker), waits on events with a bound, and a bounded
// pool of concurrent tasks. Every socket error is recorded on its connection, never dropped.
import net, { type Socket } from 'node:net';
import { EchoChecker } from '../load/echo-checker.ts';

export const host = '127.0.0.1';

/** Wakes whoever waits for "something changed"; a wait ends at the next change or its timeout. */
export class Changes {
  #waiters: (() => void)[] = [];

  notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Resolves once `condition()` holds; rejects with `what` after `timeoutMs`. */
  async until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (let checks = 0; checks < 10_000_000; checks += 1) {
      if (condition()) return;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${what}: not within ${Math.round(timeoutMs)} ms`);
      const { promise, resolve } = Promise.withResolvers<void>();
      const timer = setTimeout(resolve, left);
      this.#waiters.push(resolve);
      await promise;
      clearTimeout(timer);
    }
    throw new Error(`${what}: too many wake-ups`);
  }
}

/**
 * Resolves once `condition()` holds, checking it every `intervalMs`; rejects with `what` after
 * `timeoutMs`. Only for what sends no event (/proc: fd counts, processes; a server's stderr and
 * its metrics endpoint).
 */
export async function pollUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let checks = 0; checks < 1_000_000; checks += 1) {
    if (await condition()) return;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`${what}: not within ${Math.round(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, left)));
  }
  throw new Error(`${what}: too many checks`);
}

/**
 * How a connection ended, seen from the client: `eof` (the server's FIN), an error code
 * (ECONNRESET, EPIPE…), or `closed` (closed without either).
 */
export type Ending = string;

/** One connection whose echo is checked as it arrives. */
export class EchoConnection {
  readonly socket: Socket;
  readonly checker = new EchoChecker();
  readonly changes = new Changes();
  /** The first wrong byte, extra byte or error of the echo. */
  mismatch: string | undefined;
  /** Set once the server closed it or it failed: 'eof' or the error's code. */
  ending: Ending | undefined;
  /** The client's port: the server's peer port for this connection. */
  readonly localPort: number;
  #sentBytes = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (chunk: Buffer) => {
      this.mismatch ??= this.checker.check(chunk);
      this.changes.notify();
    });
    socket.on('drain', () => this.changes.notify());
    socket.on('end', () => {
      this.ending ??= 'eof';
      this.changes.notify();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.ending ??= error.code ?? error.message;
      this.changes.notify();
    });
    socket.on('close', () => {
      this.ending ??= 'closed';
      this.changes.notify();
    });
  }

  /** Connects to 127.0.0.1:`port`; rejects with the error (its `code`), or after `timeoutMs`. */
  static async open(port: number, timeoutMs: number): Promise<EchoConnection> {
    const socket = net.connect({ host, port, noDelay: true });
    const { promise, resolve, reject } = Promise.withResolvers<EchoConnection>();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no connection within ${timeoutMs} ms`), { code: 'CONNECT_TIMEOUT' }));
    }, timeoutMs);
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(new EchoConnection(socket));
    });
    return promise;
  }

  get sentBytes(): number {
    return this.#sentBytes;
  }

  /** Sends `data` and expects it back (do not change `data` afterwards); false: wait for 'drain'. */
  send(data: Buffer): boolean {
    this.checker.expect(data);
    this.#sentBytes += data.length;
    return this.socket.write(data);
  }

  /**
   * Sends `data` (see `send`) and, when the socket's buffer is full, waits for it to drain; stops
   * waiting, without an error, once the connection has ended (see `ending`).
   */
  async sendWithBackpressure(data: Buffer, timeoutMs: number): Promise<void> {
    if (this.send(data)) return;
    await this.changes.until(
      () => !this.socket.writableNeedDrain || this.ending !== undefined,
      timeoutMs,
      'the socket draining',
    );
  }

  /** Resolves once no more than `outstandingBytes` of what was sent is still to come back. */
  async echoed(timeoutMs: number, outstandingBytes = 0): Promise<void> {
    await this.changes.until(
      () => {
        if (this.mismatch !== undefined) throw new Error(`wrong echo: ${this.mismatch}`);
        if (this.checker.outstandingBytes <= outstandingBytes) return true;
        if (this.ending !== undefined) {
          throw Object.assign(
            new Error(`closed (${this.ending}) with ${this.checker.outstandingBytes} byte(s) not echoed`),
            { code: this.ending },
          );
        }
        return false;
      },
      timeoutMs,
      `echo of ${this.checker.outstandingBytes} byte(s)`,
    );
  }

  /** Resolves once the server closed it or it failed (its `ending`). */
  async ended(timeoutMs: number): Promise<Ending> {
    await this.changes.until(() => this.ending !== undefined, timeoutMs, 'the server closing');
    return this.ending as Ending;
  }
}

/** One line of `text` padded with `.` to at least `bytes`, ending with a newline. */
export const lineOf = (text: string, bytes = 0): Buffer => Buffer.from(`${text.padEnd(bytes - 1, '.')}\n`);

/**
 * A fresh client: connect, one line, its echo, close. Resolves with the milliseconds the connect
 * and the echo took; rejects when either fails or takes longer than `timeoutMs`.
 */
export async function freshClient(port: number, timeoutMs: number, label = 'fresh'): Promise<number> {
  const startedAt = performance.now();
  const connection = await EchoConnection.open(port, timeoutMs);
  try {
    connection.send(lineOf(`${label} client on port ${connection.localPort}`, 64));
    await connection.echoed(Math.max(1, timeoutMs - (performance.now() - startedAt)));
    return performance.now() - startedAt;
  } finally {
    connection.socket.destroy();
  }
}

/** One fresh client after a scenario: its milliseconds, or why it was not served (never throws). */
export async function freshCheck(port: number, timeoutMs: number): Promise<{ ms: number; failure?: string }> {
  try {
    return { ms: await freshClient(port, timeoutMs) };
  } catch (error) {
    return { ms: Number.NaN, failure: `a fresh client afterwards: ${(error as Error).message}` };
  }
}

/** `count` fresh clients one after the other: each one's milliseconds, and what failed. */
export async function freshClients(
  port: number,
  count: number,
  timeoutMs: number,
): Promise<{ latenciesMs: number[]; failures: string[] }> {
  const latenciesMs: number[] = [];
  const failures: string[] = [];
  for (let index = 0; index < count; index += 1) {
    try {
      latenciesMs.push(await freshClient(port, timeoutMs));
    } catch (error) {
      failures.push(`fresh client ${index + 1}: ${(error as Error).message}`);
    }
  }
  return { latenciesMs, failures };
}

/** Runs `task(0)` … `task(count - 1)`, at most `limit` at once; resolves when all have settled. */
export async function forEachLimited(
  count: number,
  limit: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
}

/** Counts of each value, as `ECONNRESET×3, eof×1`. */
export function describeCounts(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, count]) => `${value}×${count}`).join(', ');
}

/** The code of an error (ECONNRESET, CONNECT_TIMEOUT…), else its message. */
export const errorCode = (error: unknown): string =>
  (error as NodeJS.ErrnoException).code ?? (error as Error).message;
