// The command line of soak/run.ts.
import { parseArgs } from 'node:util';
import type { Handler } from './scenario.ts';
import { defaultStrategies, strategyIds, type StrategyId } from './strategies.ts';

export const scenarioIds = [
  'idle',
  'slowloris',
  'long-line',
  'bulk',
  'resets',
  'worker-kills',
  'flood',
] as const;
export type ScenarioId = (typeof scenarioIds)[number];

export interface SoakOptions {
  /** Scaled-down counts (what CI runs). */
  readonly short: boolean;
  /** Write the figures to bench/results/soak-<date>-<host>[-short].json. */
  readonly write: boolean;
  readonly strategies: readonly StrategyId[];
  readonly scenarios: readonly ScenarioId[];
  readonly handler: Handler;
}

export const usageText = `usage: node bench/src/soak/run.ts [options]   (pnpm soak [options])
  --short              scaled-down counts (1,000 idle, 100 slowloris, 4 × 1 MiB, 64 MiB, 300 resets,
                       10 kills, a flood of 500): what CI runs
  --strategy S[,S…]    ${strategyIds.join(', ')}, or all (default: ${defaultStrategies.join(', ')});
                       pool is --strategy pool --pool-kind thread, process-pool --pool-kind process,
                       each with the echo-server's defaults (16 workers, 1 connection each)
  --scenario X[,X…]    ${scenarioIds.join(', ')} (default: all)
  --handler H          the echo-server's --handler: raw, stream or line (default: stream)
  --write              write the figures to bench/results/soak-<date>-<host>[-short].json
  --help
What each scenario does, and what "held" means for it: docs/reliability.md.`;

function fail(message: string): never {
  process.stderr.write(`soak: ${message}\n${usageText}\n`);
  process.exit(2);
}

/** A comma-separated list of known names, each once; `fallback` when absent. */
function parseList<Name extends string>(
  flag: string,
  text: string | undefined,
  known: readonly Name[],
  fallback: readonly Name[],
): Name[] {
  if (text === undefined) return [...fallback];
  const names = text.split(',').filter((name) => name !== '');
  if (names.length === 1 && names[0] === 'all') return [...known];
  const unknown = names.filter((name) => !(known as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    fail(`--${flag} takes ${known.join(', ')} (comma-separated), not ${unknown.join(', ') || 'nothing'}`);
  }
  return [...new Set(names as Name[])];
}

export function parseSoakOptions(argv: readonly string[]): SoakOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv.filter((arg) => arg !== '--'), // pnpm may pass its `--` along
      options: {
        short: { type: 'boolean', default: false },
        write: { type: 'boolean', default: false },
        strategy: { type: 'string' },
        scenario: { type: 'string' },
        handler: { type: 'string', default: 'stream' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    console.log(usageText);
    process.exit(0);
  }
  const { handler } = values;
  if (handler !== 'raw' && handler !== 'stream' && handler !== 'line') {
    fail(`--handler takes raw, stream or line, not ${handler}`);
  }
  return {
    short: values.short,
    write: values.write,
    strategies: parseList('strategy', values.strategy, strategyIds, defaultStrategies),
    scenarios: parseList('scenario', values.scenario, scenarioIds, scenarioIds),
    handler,
  };
}
