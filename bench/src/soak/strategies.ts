// The strategies the soak suite runs the echo server with, and how many connections each serves
// at once with the echo-server's defaults: what decides whether a scenario can hold by design.

export const strategyIds = ['async', 'serial', 'thread', 'fork', 'pool', 'process-pool'] as const;
export type StrategyId = (typeof strategyIds)[number];
export const defaultStrategies: readonly StrategyId[] = ['async', 'pool', 'process-pool'];

/** A pool's default size (`--workers`), and what thread and fork start at most (not flags). */
export const poolWorkers = 16;
const maxThreads = 64;
const maxChildren = 40;

export interface Strategy {
  readonly id: StrategyId;
  /** The echo-server flags. */
  readonly args: readonly string[];
  /** Its workers are child processes (fork, a process pool): what the worker-kills scenario kills. */
  readonly hasWorkerProcesses: boolean;
  /** It starts a Node.js process for each connection (fork): each costs a start-up, ~0.1 s of CPU. */
  readonly startsProcessPerConnection?: boolean;
  /** Connections served at once, with these flags and `extraArgs`, and what sets that. */
  capacity(extraArgs: readonly string[]): { connections: number; why: string };
}

/** echo-server's flag for the connections each pool worker serves at once. */
export const requestsPerWorkerFlag = '--requests-per-worker';

/** The value after `flag` in `args`, as a number, or `fallback`. */
function flagValue(args: readonly string[], flag: string, fallback: number): number {
  const index = args.lastIndexOf(flag);
  const value = index === -1 ? Number.NaN : Number(args[index + 1]);
  return Number.isInteger(value) ? value : fallback;
}

const poolStrategy = (id: StrategyId, kind: 'thread' | 'process'): Strategy => ({
  id,
  args: ['--strategy', 'pool', '--pool-kind', kind],
  hasWorkerProcesses: kind === 'process',
  capacity(extraArgs) {
    const args = [...this.args, ...extraArgs];
    const workers = flagValue(args, '--workers', poolWorkers);
    const perWorker = flagValue(args, requestsPerWorkerFlag, 1);
    return {
      connections: workers * perWorker,
      why: `${workers} ${kind === 'thread' ? 'threads' : 'processes'} × ${perWorker} connection${perWorker === 1 ? '' : 's'} each`,
    };
  },
});

export const strategies: Readonly<Record<StrategyId, Strategy>> = {
  async: {
    id: 'async',
    args: ['--strategy', 'async'],
    hasWorkerProcesses: false,
    capacity: () => ({ connections: Number.POSITIVE_INFINITY, why: 'one event loop, no cap' }),
  },
  serial: {
    id: 'serial',
    args: ['--strategy', 'serial'],
    hasWorkerProcesses: false,
    capacity: () => ({ connections: 1, why: 'one connection after the other' }),
  },
  thread: {
    id: 'thread',
    args: ['--strategy', 'thread'],
    hasWorkerProcesses: false,
    capacity: () => ({ connections: maxThreads, why: `a thread per connection, ${maxThreads} at most` }),
  },
  fork: {
    id: 'fork',
    args: ['--strategy', 'fork'],
    hasWorkerProcesses: true,
    startsProcessPerConnection: true,
    capacity: () => ({ connections: maxChildren, why: `a process per connection, ${maxChildren} at most` }),
  },
  pool: poolStrategy('pool', 'thread'),
  'process-pool': poolStrategy('process-pool', 'process'),
};
