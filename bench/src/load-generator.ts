// The load generator: its own process, so a server is measured from outside. Loopback only;
// every loop is bounded in count and in time, and the process stops by itself, printing one
// JSON line. Errors (refused, reset, a wrong echo, a timeout) are counted and reported.
//
//   node bench/src/load-generator.ts --mode connections --port N [--connections 16] [--duration 2]
//   node bench/src/load-generator.ts --mode throughput --port N [--connections 50] [--window 16]
// Both first wait (up to --ready-timeout seconds) until one ping is echoed, then warm up
// (--warmup seconds, not measured), then measure for --duration seconds.
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';

/** The JSON line of `--mode connections`. */
export interface ConnectionsResult {
  readonly mode: 'connections';
  readonly connections: number;
  readonly durationSeconds: number;
  readonly completed: number;
  readonly connectionsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Connections still waiting for their echo when the run ended: dropped, not errors. */
  readonly unanswered: number;
  readonly errors: ErrorCounts;
}

/** The JSON line of `--mode throughput`. */
export interface ThroughputResult {
  readonly mode: 'throughput';
  readonly connections: number;
  readonly window: number;
  readonly lineBytes: number;
  readonly durationSeconds: number;
  readonly lines: number;
  readonly linesPerSecond: number;
  /** Echoed bytes per second, in 10^6 bytes (one direction). */
  readonly megabytesPerSecond: number;
  /** Lines sent but not echoed when the run ended (after the drain): dropped, not errors. */
  readonly unanswered: number;
  readonly errors: ErrorCounts;
}

export interface ErrorCounts {
  readonly total: number;
  readonly byCode: Readonly<Record<string, number>>;
}

interface LoadOptions {
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  readonly window: number;
  readonly lineBytes: number;
  readonly timeoutMs: number;
  readonly maxOperations: number;
}

/** The time frame of a run (performance.now() values): warm-up, then the measured part. */
interface Phases {
  readonly measureStart: number;
  readonly measureEnd: number;
  /** Clients still waiting for echoes after measureEnd give up at this time. */
  readonly drainEnd: number;
}

const drainMs = 500;
const pingLine = Buffer.from('ping\n');
/** Distinct lines per throughput client, so a lost, repeated or reordered echo is caught. */
const linesPerClient = 256;

const round = (value: number): number => Math.round(value * 1000) / 1000;

class LoadError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

class ErrorCounter {
  readonly #byCode: Record<string, number> = {};
  #total = 0;

  count(error: unknown): void {
    const code = (error as { code?: unknown }).code;
    const key = typeof code === 'string' ? code : 'EUNKNOWN';
    this.#byCode[key] = (this.#byCode[key] ?? 0) + 1;
    this.#total += 1;
  }

  toJSON(): ErrorCounts {
    return { total: this.#total, byCode: this.#byCode };
  }
}

/**
 * connect, send `ping\n`, read the echoed line, close; rejects with what went wrong, or with an
 * AbortError when `signal` aborts first.
 */
function pingOnce(options: LoadOptions, signal?: AbortSignal): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const socket = net.connect({
    host: options.host,
    port: options.port,
    noDelay: true,
    ...(signal === undefined ? {} : { signal }),
  });
  let echoed = Buffer.alloc(0);
  let failure: Error | undefined;
  const fail = (error: Error): void => {
    failure ??= error;
    socket.destroy();
  };
  socket.setTimeout(options.timeoutMs, () =>
    fail(new LoadError('ETIMEDOUT', `no echo within ${options.timeoutMs} ms`)),
  );
  socket.once('connect', () => socket.write(pingLine));
  socket.on('data', (chunk: Buffer) => {
    echoed = Buffer.concat([echoed, chunk]);
    if (echoed.length < pingLine.length) return;
    if (echoed.equals(pingLine)) socket.end();
    else fail(new LoadError('EMISMATCH', `echo ${JSON.stringify(echoed.toString())}`));
  });
  socket.on('end', () => {
    if (!echoed.equals(pingLine)) fail(new LoadError('ECLOSED', 'closed before the echo'));
  });
  socket.on('error', fail);
  socket.on('close', () => (failure === undefined ? resolve() : reject(failure)));
  return promise;
}

/**
 * Wait until one ping is echoed: some strategies start their workers after the server prints
 * its port, and the warm-up should not be spent waiting for them.
 */
async function waitUntilServing(options: LoadOptions, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await pingOnce({ ...options, timeoutMs: Math.max(1, Math.round(deadline - performance.now())) });
    } catch (error) {
      if (performance.now() >= deadline || attempt >= 1000) {
        process.stderr.write(
          `load-generator: the server did not echo within ${timeoutMs} ms: ${String(error)}\n`,
        );
        process.exit(1);
      }
      await delay(20);
    }
  }
}

async function measureConnections(options: LoadOptions, phases: Phases): Promise<ConnectionsResult> {
  const { build } = await import('hdr-histogram-js'); // here: only this mode pays for loading it
  const histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000 }); // µs
  const errors = new ErrorCounter();
  let started = 0;
  let unanswered = 0;
  // Connections still under way at drainEnd are dropped, not waited for (a SYN retried after
  // a full accept queue can take seconds).
  const stop = AbortSignal.timeout(Math.max(0, Math.round(phases.drainEnd - performance.now())));
  const loop = async (): Promise<void> => {
    while (performance.now() < phases.measureEnd && started < options.maxOperations) {
      started += 1;
      const startedAt = performance.now();
      try {
        await pingOnce(options, stop);
        const endedAt = performance.now();
        if (endedAt >= phases.measureStart && endedAt <= phases.measureEnd) {
          histogram.recordValue(Math.max(1, Math.round((endedAt - startedAt) * 1000)));
        }
      } catch (error) {
        if (stop.aborted && (error as Error).name === 'AbortError') {
          unanswered += 1;
          break;
        }
        errors.count(error);
        await delay(10); // a refused or reset connection must not spin the loop
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, loop));
  const durationSeconds = Math.round(phases.measureEnd - phases.measureStart) / 1000;
  return {
    mode: 'connections',
    connections: options.connections,
    durationSeconds,
    completed: histogram.totalCount,
    connectionsPerSecond: round(histogram.totalCount / durationSeconds),
    latencyMs: {
      p50: histogram.getValueAtPercentile(50) / 1000,
      p99: histogram.getValueAtPercentile(99) / 1000,
      max: histogram.maxValue / 1000,
    },
    unanswered,
    errors: errors.toJSON(),
  };
}

/** 64-byte (by default) lines `c3 #17 ....\n`, distinct for each client and sequence number. */
function clientLines(client: number, lineBytes: number): Buffer[] {
  return Array.from({ length: linesPerClient }, (_, index) => {
    const line = Buffer.alloc(lineBytes, '.');
    line.write(`c${client} #${index} `);
    line[lineBytes - 1] = 0x0a;
    return line;
  });
}

/**
 * One client's connection: keep `window` lines outstanding, check each echo byte for byte
 * against what was sent, count the lines echoed while measuring. After the measured part it
 * sends no more, waits for the outstanding echoes until `drainEnd` (a serial server may never
 * get to this client) and closes. Rejects on an error, the connection then destroyed.
 */
function pipelineSession(
  options: LoadOptions,
  phases: Phases,
  lines: readonly Buffer[],
  onEchoedLine: () => boolean,
): Promise<number> {
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  const { lineBytes } = options;
  const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
  let sent = 0;
  let received = 0;
  let offsetInLine = 0;
  let isSending = true;
  let failure: Error | undefined;
  const fail = (error: Error): void => {
    failure ??= error;
    socket.destroy();
  };
  const lineAt = (sequence: number): Buffer => lines[sequence % lines.length] as Buffer;
  const refill = (): void => {
    socket.cork();
    while (isSending && sent - received < options.window) socket.write(lineAt(sent++));
    socket.uncork();
  };
  const stopSending = (): void => {
    isSending = false;
    if (sent === received) socket.end();
  };
  const measureTimer = setTimeout(stopSending, Math.max(0, phases.measureEnd - performance.now()));
  const drainTimer = setTimeout(() => socket.destroy(), Math.max(0, phases.drainEnd - performance.now()));

  socket.once('connect', refill);
  socket.on('data', (chunk: Buffer) => {
    for (let position = 0; position < chunk.length;) {
      const take = Math.min(lineBytes - offsetInLine, chunk.length - position);
      const expected = lineAt(received).subarray(offsetInLine, offsetInLine + take);
      if (!expected.equals(chunk.subarray(position, position + take))) {
        fail(new LoadError('EMISMATCH', `echo of line ${received} differs from what was sent`));
        return;
      }
      position += take;
      offsetInLine += take;
      if (offsetInLine === lineBytes) {
        offsetInLine = 0;
        received += 1;
        if (!onEchoedLine()) isSending = false;
      }
    }
    if (isSending) refill();
    else if (sent === received) socket.end();
  });
  socket.on('end', () => {
    if (isSending || received < sent) fail(new LoadError('ECLOSED', 'the server closed the connection'));
  });
  socket.on('error', fail);
  socket.on('close', () => {
    clearTimeout(measureTimer);
    clearTimeout(drainTimer);
    if (failure === undefined) resolve(sent - received);
    else reject(failure);
  });
  return promise;
}

async function measureThroughput(options: LoadOptions, phases: Phases): Promise<ThroughputResult> {
  const errors = new ErrorCounter();
  let echoedLines = 0;
  let measuredLines = 0;
  let unanswered = 0;
  /** Counts an echoed line; false once the run's line budget is spent. */
  const onEchoedLine = (): boolean => {
    echoedLines += 1;
    const now = performance.now();
    if (now >= phases.measureStart && now <= phases.measureEnd) measuredLines += 1;
    return echoedLines < options.maxOperations;
  };
  const client = async (index: number): Promise<void> => {
    const lines = clientLines(index, options.lineBytes);
    // Reconnect after an error until the measured part ends, at most 1000 times.
    for (
      let attempt = 0;
      attempt < 1000 && performance.now() < phases.measureEnd && echoedLines < options.maxOperations;
      attempt += 1
    ) {
      try {
        unanswered += await pipelineSession(options, phases, lines, onEchoedLine);
      } catch (error) {
        errors.count(error);
        await delay(10);
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, (_, index) => client(index)));
  const durationSeconds = Math.round(phases.measureEnd - phases.measureStart) / 1000;
  const linesPerSecond = measuredLines / durationSeconds;
  return {
    mode: 'throughput',
    connections: options.connections,
    window: options.window,
    lineBytes: options.lineBytes,
    durationSeconds,
    lines: measuredLines,
    linesPerSecond: round(linesPerSecond),
    megabytesPerSecond: round((linesPerSecond * options.lineBytes) / 1e6),
    unanswered,
    errors: errors.toJSON(),
  };
}

function usage(message: string): never {
  process.stderr.write(`load-generator: ${message}\n`);
  process.exit(2);
}

function numberOption(values: Record<string, unknown>, name: string, fallback: number, min: number): number {
  const text = values[name];
  const value = typeof text === 'string' ? Number(text) : fallback;
  if (!Number.isFinite(value) || value < min) usage(`--${name} must be a number >= ${min}`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      connections: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      window: { type: 'string' },
      'line-bytes': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'max-operations': { type: 'string' },
      'ready-timeout': { type: 'string' },
    },
  });
  const { mode, host } = values;
  if (mode !== 'connections' && mode !== 'throughput') usage('--mode must be connections or throughput');
  if (!(net.isIPv4(host) && host.startsWith('127.')) && host !== '::1') {
    usage(`--host must be a loopback address (127.x.x.x or ::1), not ${host}`);
  }
  const options: LoadOptions = {
    host,
    port: numberOption(values, 'port', Number.NaN, 1),
    connections: Math.floor(numberOption(values, 'connections', mode === 'connections' ? 16 : 50, 1)),
    window: Math.floor(numberOption(values, 'window', 16, 1)),
    lineBytes: Math.floor(numberOption(values, 'line-bytes', 64, 16)),
    timeoutMs: numberOption(values, 'timeout-ms', 5_000, 1),
    maxOperations: numberOption(values, 'max-operations', 10_000_000, 1),
  };
  const readyTimeoutMs = numberOption(values, 'ready-timeout', 15, 0.1) * 1000;
  const warmupMs = numberOption(values, 'warmup', 0.5, 0) * 1000;
  const durationMs = numberOption(values, 'duration', 2, 0.1) * 1000;
  // Last resort: whatever is still open past every deadline, the process ends anyway.
  const hardStopMs = readyTimeoutMs + warmupMs + durationMs + drainMs + options.timeoutMs + 5_000;
  setTimeout(() => {
    process.stderr.write(`load-generator: still running after ${hardStopMs} ms, stopping\n`);
    process.exit(1);
  }, hardStopMs).unref();

  await waitUntilServing(options, readyTimeoutMs);
  const measureStart = performance.now() + warmupMs;
  const phases: Phases = {
    measureStart,
    measureEnd: measureStart + durationMs,
    drainEnd: measureStart + durationMs + drainMs,
  };
  const result =
    mode === 'connections'
      ? await measureConnections(options, phases)
      : await measureThroughput(options, phases);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
