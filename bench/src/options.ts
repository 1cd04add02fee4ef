// The command line of run.ts.
import { parseArgs } from 'node:util';
import { groupIds, type GroupId } from './servers.ts';

export interface RunOptions {
  readonly quick: boolean;
  /** Write the committed results (bench/results/, docs/benchmarks.md) even for a quick run. */
  readonly write: boolean;
  readonly rounds: number;
  readonly warmupSeconds: number;
  /** Warm-up of the first scenario of a server that starts threads or processes as connections come. */
  readonly firstWarmupSeconds: number;
  /**
   * Warm-up of the first scenario of every server of the pools group (all of them, pool or not):
   * each worker thread's isolate JIT-compiles on its own, seeing 1/N of the connections.
   */
  readonly poolsWarmupSeconds: number;
  readonly durationSeconds: number;
  readonly drainSeconds: number;
  readonly loadWorkers: number;
  /** The load generator: native (C, built with gcc at the start; Node.js when it cannot be) or node. */
  readonly loadGenerator: 'native' | 'node';
  /** Processes of the native load generator per scenario. */
  readonly loadProcesses: number;
  readonly idleConnections: number;
  /** Only the servers whose id contains one of these (for trying things out); empty: all. */
  readonly only: readonly string[];
  /** The groups to run (in the order `groups()` lists them); every group unless `--group` names some. */
  readonly groups: readonly GroupId[];
}

export const usageText = `usage: node bench/src/run.ts [options]
  --quick                one round, short windows; writes to bench/results/quick/ unless --write
  --write                with --quick: write bench/results/<date>-<host>.json and docs/benchmarks.md
  --rounds N             rounds (default 3; quick 1)
  --warmup S             warm-up seconds before each measured window (default 0.5; quick 0.1)
  --first-warmup S       warm-up of a thread/fork/pool server's first scenario (default 1.5; quick 0.3)
  --pools-warmup S       the pools group: warm-up of every server's first scenario (default 5; quick 0.3)
  --duration S           measured seconds per run (default 1; quick 0.25)
  --drain S              seconds outstanding echoes may take after the window (default 20)
  --load-generator G     native (default: load-native/load-generator.c, built with gcc; Node.js
                         when gcc cannot build it) or node (src/load/generator.ts)
  --load-processes N     native load generator: processes per scenario (default 1)
  --load-workers N       Node.js load generator: worker threads (default 2); it also runs what the
                         native one does not (idle, TLS)
  --idle-connections N   connections of the idle scenario (default 10000; quick 2000)
  --only ID[,ID…]        only servers whose id contains one of these (a partial run, for trying things)
  --group G[,G…]         only these groups: ${groupIds.join(', ')} (default: all);
                         the results and document of a run of some groups are named after them
                         (see bench/README.md)
  --help`;

export function parseRunOptions(argv: readonly string[]): RunOptions {
  const { values } = parseArgs({
    args: argv.filter((arg) => arg !== '--'), // pnpm may pass its `--` along
    options: {
      quick: { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      'first-warmup': { type: 'string' },
      'pools-warmup': { type: 'string' },
      duration: { type: 'string' },
      drain: { type: 'string' },
      'load-workers': { type: 'string' },
      'load-generator': { type: 'string' },
      'load-processes': { type: 'string' },
      'idle-connections': { type: 'string' },
      only: { type: 'string' },
      group: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usageText);
    process.exit(0);
  }
  const { quick } = values;
  const number = (name: keyof typeof values, fallback: number, min: number, max: number): number => {
    const text = values[name];
    const value = typeof text === 'string' ? Number(text) : fallback;
    if (Number.isFinite(value) && value >= min && value <= max) return value;
    process.stderr.write(`run: --${name} must be a number from ${min} to ${max}\n${usageText}\n`);
    process.exit(2);
  };
  return {
    quick,
    write: values.write,
    rounds: Math.floor(number('rounds', quick ? 1 : 3, 1, 20)),
    warmupSeconds: number('warmup', quick ? 0.1 : 0.5, 0, 60),
    firstWarmupSeconds: number('first-warmup', quick ? 0.3 : 1.5, 0, 60),
    poolsWarmupSeconds: number('pools-warmup', quick ? 0.3 : 5, 0, 60),
    durationSeconds: number('duration', quick ? 0.25 : 1, 0.1, 60),
    drainSeconds: number('drain', 20, 1, 300),
    loadWorkers: Math.floor(number('load-workers', 2, 1, 64)),
    loadGenerator: parseLoadGenerator(values['load-generator']),
    loadProcesses: Math.floor(number('load-processes', 1, 1, 16)),
    idleConnections: Math.floor(number('idle-connections', quick ? 2000 : 10_000, 1, 100_000)),
    only: values.only === undefined ? [] : values.only.split(',').filter((id) => id !== ''),
    groups: parseGroups(values.group),
  };
}

function parseLoadGenerator(text: string | undefined): 'native' | 'node' {
  if (text === undefined || text === 'native' || text === 'node') return text ?? 'native';
  process.stderr.write(`run: --load-generator takes native or node, not ${text}\n${usageText}\n`);
  process.exit(2);
}

/** `--group`'s list: known ids, each once; every group when absent. */
function parseGroups(text: string | undefined): GroupId[] {
  if (text === undefined) return [...groupIds];
  const names = text.split(',').filter((name) => name !== '');
  const unknown = names.filter((name) => !(groupIds as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    process.stderr.write(
      `run: --group takes ${groupIds.join(', ')} (comma-separated), not ${unknown.join(', ') || 'nothing'}\n${usageText}\n`,
    );
    process.exit(2);
  }
  return [...new Set(names as GroupId[])];
}
