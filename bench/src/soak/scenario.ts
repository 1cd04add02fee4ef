// What a soak scenario is: its id, how big it is (full or --short), what "held" means, when a
// strategy cannot hold it by design (and the echo-server flag that makes it hold), and its run.
import type { SoakServer } from './server.ts';
import { poolWorkers, requestsPerWorkerFlag, type Strategy } from './strategies.ts';

export interface Sizes {
  readonly idleConnections: number;
  readonly slowlorisClients: number;
  /** Dribble ticks (100 ms each) before the first fresh client, and between two fresh clients. */
  readonly slowlorisWarmTicks: number;
  readonly slowlorisTicksBetweenFresh: number;
  readonly freshClients: number;
  /** Bound on a fresh client (connect and one echoed line) where the strategy is meant to hold. */
  readonly freshBoundMs: number;
  readonly longLineClients: number;
  readonly longLineBytes: number;
  readonly bulkBytes: number;
  readonly bulkConnections: number;
  readonly resets: number;
  readonly kills: number;
  readonly floodConnections: number;
  readonly floodFdLimit: number;
}

export const fullSizes: Sizes = {
  idleConnections: 10_000,
  slowlorisClients: 500,
  slowlorisWarmTicks: 30,
  slowlorisTicksBetweenFresh: 5,
  freshClients: 20,
  freshBoundMs: 5_000,
  longLineClients: 4,
  longLineBytes: 10 * 2 ** 20,
  bulkBytes: 2 ** 30,
  bulkConnections: 4,
  resets: 2_000,
  kills: 100,
  floodConnections: 2_000,
  floodFdLimit: 256,
};

export const shortSizes: Sizes = {
  ...fullSizes,
  idleConnections: 1_000,
  slowlorisClients: 100,
  slowlorisWarmTicks: 10,
  slowlorisTicksBetweenFresh: 1,
  longLineBytes: 2 ** 20,
  bulkBytes: 64 * 2 ** 20,
  resets: 300,
  kills: 10,
  floodConnections: 500,
};

export type Handler = 'raw' | 'stream' | 'line';

export interface ScenarioContext {
  readonly strategy: Strategy;
  readonly sizes: Sizes;
  readonly handler: Handler;
  /** Flags added to the strategy's for this run (the flag that makes it hold, on a second run). */
  readonly extraArgs: readonly string[];
  /**
   * Starts an echo server with the strategy's flags, `--handler`, `extraArgs` and `args`; the
   * runner stops it (and fails the scenario if it died) when the scenario ends.
   */
  readonly startServer: (options?: {
    args?: readonly string[];
    fdLimit?: number;
    metrics?: boolean;
  }) => Promise<SoakServer>;
}

export interface Outcome {
  /** The scenario's figures, in a few words (one line). */
  readonly figure: string;
  readonly metrics: Record<string, number | string>;
  /** Why it did not hold; empty when it held. */
  readonly failures: string[];
}

/** A strategy that cannot hold a scenario by design, and the echo-server flag that fixes it. */
export interface ByDesign {
  readonly reason: string;
  /** The flag(s) to name, as `--requests-per-worker 64 --accept main`. */
  readonly fix: string;
  /** Flags to run the scenario again with, added to the strategy's; undefined: not run again. */
  readonly rerunArgs: readonly string[] | undefined;
}

export interface Scenario {
  readonly id: string;
  /** The id with its size, as printed: `idle-10k`. */
  label(sizes: Sizes): string;
  /** What "held" means, for --help and the JSON. */
  readonly held: string;
  /** Why the scenario does not apply to `strategy` (worker kills without worker processes). */
  notApplicable?(strategy: Strategy): string | undefined;
  /** Why `strategy` cannot hold it by design, with the default flags. */
  byDesign?(strategy: Strategy, sizes: Sizes): ByDesign | undefined;
  run(context: ScenarioContext): Promise<Outcome>;
}

/**
 * The by-design verdict of a scenario that holds `connections` at once: a strategy serving fewer
 * cannot. A pool holds with a per-worker count that serves half as many again (a power of two), and
 * `--accept main`: the main thread hands each connection to the least busy worker. (With
 * `--accept workers`, the default above one connection per worker, a connection waits in the
 * worker that accepted it even while another has room, and a process that wakes first accepts a
 * whole burst.) The other strategies need a pool.
 */
export function needsConnectionsAtOnce(
  strategy: Strategy,
  connections: number,
  what: string,
): ByDesign | undefined {
  const { connections: capacity, why } = strategy.capacity([]);
  if (capacity >= connections) return undefined;
  const reason = `${why}: ${capacity} at once, and ${what} need ${connections}`;
  const perWorker = 2 ** Math.ceil(Math.log2((connections * 1.5) / poolWorkers));
  if (strategy.id === 'pool' || strategy.id === 'process-pool') {
    const rerunArgs = [requestsPerWorkerFlag, String(perWorker), '--accept', 'main'];
    return { reason, fix: rerunArgs.join(' '), rerunArgs };
  }
  const fix = `--strategy async, or --strategy pool ${requestsPerWorkerFlag} ${perWorker} --accept main`;
  return { reason, fix, rerunArgs: undefined };
}

// Figures.
export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
export const ms = (milliseconds: number): string =>
  `${milliseconds < 10 ? milliseconds.toFixed(1) : Math.round(milliseconds)} ms`;
/** 10000 → 10k, 2000 → 2k, 500 → 500; bytes as 10MiB, 1GiB. */
export const count = (value: number): string =>
  value >= 1000 && value % 1000 === 0 ? `${value / 1000}k` : String(value);
export const bytesLabel = (value: number): string =>
  value >= 2 ** 30 ? `${value / 2 ** 30}GiB` : `${value / 2 ** 20}MiB`;
