// The native load generator (load-native/load-generator.c, compiled at the start of a run): for
// each scenario the orchestrator asks for, it starts `processes` copies of the C program, each
// with its share of the connections (consecutive ids) on its command line, and merges the one
// JSON line each prints into a LoadTally, as the Node.js generator merges its worker threads'.
// The C program counts its own CPU time over the measured window (CLOCK_PROCESS_CPUTIME_ID).
// What it does not run (the idle scenario, TLS) goes to a Node.js generator, started when first
// needed.
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import {
  LoadGeneratorClient,
  type IdleSteps,
  type LoadGenerator,
  type LoadOutcome,
} from './load-generator-client.ts';
import { ManagedProcess } from './managed-process.ts';
import {
  maxDescribedFailures,
  now,
  startDelayMs,
  type Endpoint,
  type LoadRequest,
  type LoadTally,
} from './load/protocol.ts';
import { buildLatencyHistogram } from './load/tally-recorder.ts';

/** What one C process prints. */
interface NativeTally {
  readonly operations: number;
  readonly windowBytes: number;
  readonly verifiedBytes: number;
  readonly connectionsOpened: number;
  readonly failureCount: number;
  readonly failures: readonly string[];
  /** [lowest value of an HDR sub-bucket (µs), count] for each non-empty one. */
  readonly latency: readonly (readonly [number, number])[];
  /** Its CPU time (user + system) over the measured window. */
  readonly cpuSeconds: number;
  /** The user-space part of it: the generator's own code. */
  readonly userCpuSeconds: number;
}

export class NativeLoadGenerator implements LoadGenerator {
  readonly kind = 'native';
  readonly #binary: string;
  readonly #processes: number;
  readonly #nodeWorkers: number;
  readonly #fdLimit: number;
  #node: LoadGeneratorClient | undefined;

  constructor(binary: string, processes: number, nodeWorkers: number, fdLimit: number) {
    this.#binary = binary;
    this.#processes = processes;
    this.#nodeWorkers = nodeWorkers;
    this.#fdLimit = fdLimit;
  }

  #fallback(): LoadGeneratorClient {
    this.#node ??= new LoadGeneratorClient(this.#nodeWorkers, this.#fdLimit);
    return this.#node;
  }

  async ready(endpoint: Endpoint, timeoutMs: number): Promise<string | undefined> {
    if (endpoint.tlsCa !== undefined) return this.#fallback().ready(endpoint, timeoutMs);
    // One connection, one line, its echo, close: as the Node.js generator's first echo.
    const args = [
      ...['--mode', 'connect', '--port', String(endpoint.port), '--connections', '1'],
      ...['--first-id', '999999', '--line-bytes', '64', '--max-iterations', '1'],
      ...['--warmup-ms', '0', '--duration-ms', String(timeoutMs), '--drain-ms', '0'],
    ];
    const [tally] = await this.#spawnAll([args], timeoutMs + 5_000);
    if (tally === undefined) return 'the native load generator printed nothing';
    return tally.failureCount === 0 ? undefined : `first echo: ${tally.failures.join('; ')}`;
  }

  async run(request: LoadRequest, timeoutMs: number, steps?: IdleSteps): Promise<LoadOutcome> {
    if (request.kind === 'idle' || request.tlsCa !== undefined) {
      return this.#fallback().run(request, timeoutMs, steps);
    }
    const startedAt = now();
    const total = request.kind === 'connect' ? request.loops : request.connections;
    const processes = Math.max(1, Math.min(this.#processes, total));
    const common = [
      ...['--port', String(request.port), '--start-at', (startedAt + startDelayMs).toFixed(3)],
      ...['--warmup-ms', String(request.warmupMs), '--duration-ms', String(request.durationMs)],
      ...['--drain-ms', String(request.drainMs)],
    ];
    const scenario =
      request.kind === 'stream'
        ? [
            ...['--mode', 'stream', '--window', String(request.window)],
            ...['--line-bytes', String(request.lineBytes)],
            ...(request.recordLatency ? ['--record-latency'] : []),
          ]
        : request.kind === 'connect'
          ? ['--mode', 'connect', '--line-bytes', String(request.lineBytes)]
          : [
              ...['--mode', 'connect', '--line-bytes', String(request.lineBytes)],
              '--lines-per-connection',
              String(Math.ceil(request.transferBytes / request.lineBytes)),
            ];
    const argsList = Array.from({ length: processes }, (_, index) => {
      const firstId = Math.floor((total * index) / processes);
      const count = Math.floor((total * (index + 1)) / processes) - firstId;
      return [...common, ...scenario, '--first-id', String(firstId), '--connections', String(count)];
    });
    const tallies = await this.#spawnAll(argsList, timeoutMs);
    return {
      tally: merge(tallies),
      elapsedMs: now() - startedAt,
      generatorCpuSeconds: tallies.reduce((sum, tally) => sum + tally.cpuSeconds, 0),
      generatorUserCpuSeconds: tallies.reduce((sum, tally) => sum + tally.userCpuSeconds, 0),
      generatorCores: processes,
    };
  }

  /** Starts one C process per argument list, and waits for each one's JSON line and exit. */
  async #spawnAll(argsList: readonly (readonly string[])[], timeoutMs: number): Promise<NativeTally[]> {
    const children = argsList.map((args) => new ManagedProcess(this.#binary, args, this.#fdLimit));
    try {
      return await Promise.all(
        children.map(async (child) => {
          try {
            const line = await child.nextLine(/^\{/, timeoutMs);
            await child.waitForExit(5_000);
            return JSON.parse(line) as NativeTally;
          } catch (error) {
            const stderr = child.stderr.trim();
            throw new Error(
              `native load generator: ${(error as Error).message}${stderr === '' ? '' : `; stderr: ${stderr.slice(0, 500)}`}`,
              { cause: error },
            );
          }
        }),
      );
    } finally {
      for (const child of children) child.killGroup();
    }
  }

  async close(): Promise<void> {
    await this.#node?.close();
    this.#node = undefined;
  }
}

/** The processes' tallies as one, their latencies in one HDR histogram (as hdr-histogram-js would have recorded them). */
function merge(tallies: readonly NativeTally[]): LoadTally {
  const histogram = buildLatencyHistogram();
  let hasLatency = false;
  for (const tally of tallies) {
    for (const [value, count] of tally.latency) {
      histogram.recordValueWithCount(value, count);
      hasLatency = true;
    }
  }
  const sum = (pick: (tally: NativeTally) => number): number =>
    tallies.reduce((total, tally) => total + pick(tally), 0);
  const merged: LoadTally = {
    operations: sum((tally) => tally.operations),
    windowBytes: sum((tally) => tally.windowBytes),
    verifiedBytes: sum((tally) => tally.verifiedBytes),
    histogram: hasLatency ? encodeIntoCompressedBase64(histogram) : '',
    connectionsOpened: sum((tally) => tally.connectionsOpened),
    failureCount: sum((tally) => tally.failureCount),
    failures: tallies.flatMap((tally) => tally.failures).slice(0, maxDescribedFailures),
  };
  histogram.destroy();
  return merged;
}
