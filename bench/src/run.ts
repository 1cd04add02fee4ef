// The benchmark runner. For each server: start it on port 0, run the load generator (its own
// process) against it once per scenario, stop it (SIGINT). Rounds alternate between servers;
// tables show medians as ratios against baselines measured in the same run, and are written
// to bench/results/latest.md.
//   node bench/src/run.ts [--duration S] [--warmup S] [--rounds N] [--quick]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ServerProcess } from '@socketserver/client/server-process';
import { aim, integer, rate, renderScenario, type LoadResult, type Row } from './report.ts';
import { pythonRuntime, suites, type Scenario, type ServerSpec, type Suite } from './suites.ts';

const node = process.execPath;
const loadGenerator = fileURLToPath(new URL('load-generator.ts', import.meta.url));
const resultsFile = new URL('../results/latest.md', import.meta.url);

type Outcome =
  | { readonly kind: 'ok'; readonly result: LoadResult }
  | { readonly kind: 'unavailable' | 'failed'; readonly reason: string };

/** Something worth knowing about a run (`kind`), with what was seen (`detail`). */
type Remark = readonly [kind: string, detail: string];

interface Timing {
  readonly rounds: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
}

/** The first line that says something (Python's tracebacks start with a line of dashes). */
const firstLine = (text: string): string =>
  text
    .split('\n')
    .find((line) => /\w/.test(line))
    ?.trim() ?? '';

/**
 * Start the server, run the load generator against it once per scenario, stop it. A server
 * that exits with code 2 before listening lacks the strategy: `unavailable`.
 */
async function measureServer(
  spec: ServerSpec,
  scenarios: readonly Scenario[],
  timing: Timing,
  remarks: Remark[],
): Promise<Outcome[]> {
  await using server = ServerProcess.start(spec.command, spec.args);
  let port: string;
  try {
    const line = await server.waitForLine(/running on port \d+$/, { timeoutMs: 15_000 });
    port = line.slice(line.lastIndexOf(' ') + 1);
  } catch (error) {
    const exit = await server.waitForExit({ timeoutMs: 2_000 }).catch(() => undefined);
    const reason = firstLine(server.stderr) || (error as Error).message;
    return scenarios.map(() => ({ kind: exit?.code === 2 ? 'unavailable' : 'failed', reason }));
  }
  const outcomes: Outcome[] = [];
  for (const scenario of scenarios) outcomes.push(await runLoadGenerator(scenario, port, timing));
  server.kill('SIGINT');
  await server
    .waitForExit({ timeoutMs: 5_000 })
    .catch(() => remarks.push(['did not exit within 5 s of SIGINT', '']));
  if (server.stderr.trim() !== '') remarks.push(['the server wrote to stderr', firstLine(server.stderr)]);
  return outcomes;
}

async function runLoadGenerator(scenario: Scenario, port: string, timing: Timing): Promise<Outcome> {
  const { warmupSeconds, durationSeconds } = timing;
  await using generator = ServerProcess.start(node, [
    loadGenerator,
    ...scenario.loadArgs,
    ...['--port', port, '--warmup', String(warmupSeconds), '--duration', String(durationSeconds)],
  ]);
  // Bounded: 15 s until the server serves, the run itself, its drain and a margin.
  const timeoutMs = (warmupSeconds + durationSeconds) * 1000 + 30_000;
  const exit = await generator.waitForExit({ timeoutMs }).catch((error: unknown) => ({ code: null, error }));
  const output = generator.stdoutLines.at(-1);
  if (exit.code === 0 && output !== undefined) {
    return { kind: 'ok', result: JSON.parse(output) as LoadResult };
  }
  const reason = firstLine(generator.stderr) || `the load generator exited with ${String(exit.code)}`;
  return { kind: 'failed', reason };
}

function parseTiming(argv: readonly string[]): Timing {
  const { values } = parseArgs({
    args: argv[0] === '--' ? argv.slice(1) : [...argv], // pnpm may pass its `--` along
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
    },
  });
  const number = (name: 'duration' | 'warmup' | 'rounds', fallback: number, min: number): number => {
    const value = values[name] === undefined ? fallback : Number(values[name]);
    if (Number.isFinite(value) && value >= min) return value;
    process.stderr.write(`run: --${name} must be a number >= ${min}\n`);
    process.exit(2);
  };
  return {
    rounds: Math.floor(number('rounds', values.quick ? 1 : 3, 1)),
    // Long enough for the thread strategy to start its threads, which it then reuses: the
    // aims are about steady serving, not start-up.
    warmupSeconds: number('warmup', values.quick ? 1 : 2, 0),
    durationSeconds: number('duration', values.quick ? 0.5 : 1, 0.1),
  };
}

function environment(timing: Timing, argv: readonly string[]): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return [
    `Run on ${new Date().toISOString()} with \`node bench/src/run.ts${argv.map((arg) => ` ${arg}`).join('')}\`:`,
    `Node.js ${process.version}, ${pythonRuntime.version}, ${os.availableParallelism()} × ${cpu}, ` +
      `load average ${os.loadavg()[0]?.toFixed(2)} at the start (other work on the machine skews every number).`,
    `Each server is measured ${timing.rounds} time(s), rounds alternating between servers: once it echoes, ` +
      `${timing.warmupSeconds} s warm-up, then ${timing.durationSeconds} s measured. Tables show medians, ` +
      'and the errors of all rounds. The load generator runs on the same machine, over 127.0.0.1.',
  ].join('\n');
}

function addRemark(row: Row, [kind, detail]: Remark): void {
  const seen = row.remarks.get(kind);
  if (seen === undefined) row.remarks.set(kind, { runs: 1, detail });
  else seen.runs += 1;
}

function record(row: Row, outcome: Outcome, remarks: readonly Remark[]): void {
  if (outcome.kind === 'ok') row.results.push(outcome.result);
  else if (outcome.kind === 'unavailable') row.unavailable = outcome.reason;
  else addRemark(row, ['failed', outcome.reason]);
  for (const remark of remarks) addRemark(row, remark);
}

/** Every round of one suite: rows[scenario][server]. */
async function runSuite({ servers, scenarios }: Suite, timing: Timing): Promise<Row[][]> {
  const rows = scenarios.map(() => servers.map((spec): Row => ({ spec, results: [], remarks: new Map() })));
  for (let round = 0; round < timing.rounds; round += 1) {
    // Rotate the order each round, so no server always runs first or right after the same one.
    for (const index of servers.map((_, position) => (position + round) % servers.length)) {
      const spec = servers[index] as ServerSpec;
      const serverRows = rows.map((scenarioRows) => scenarioRows[index] as Row);
      if (serverRows[0]?.unavailable !== undefined) continue;
      const remarks: Remark[] = [];
      const startedAt = performance.now();
      const outcomes = await measureServer(spec, scenarios, timing, remarks);
      outcomes.forEach((outcome, scenario) => record(serverRows[scenario] as Row, outcome, remarks));
      const shown = outcomes.map((outcome) =>
        outcome.kind === 'ok' ? `${integer(rate(outcome.result))}/s` : outcome.kind,
      );
      const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
      process.stderr.write(
        `round ${round + 1}/${timing.rounds}: ${spec.name}: ${shown.join(', ')} (${seconds} s)\n`,
      );
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const timing = parseTiming(argv);
  const startedAt = performance.now();
  const sections = ['# Benchmark results', '', environment(timing, argv)];
  const rowsById = new Map<Scenario['id'], Row[]>();
  for (const suite of suites) {
    const rows = await runSuite(suite, timing);
    suite.scenarios.forEach((scenario, scenarioIndex) => {
      const section = renderScenario(scenario, rows[scenarioIndex] ?? []);
      console.log(`\n${section}`);
      sections.push('', section);
      rowsById.set(scenario.id, rows[scenarioIndex] ?? []);
    });
  }
  const aims = [
    '## Aims',
    '',
    '- pool (threads) >= 1.6x async on the CPU-bound handler: ' +
      aim(rowsById.get('c') ?? [], 'cpu-echo pool (threads)', 'cpu-echo async', 1.6),
    '- thread strategy connection rate >= 0.5x async on plain echo: ' +
      aim(rowsById.get('a') ?? [], 'echo thread', 'echo async', 0.5),
  ].join('\n');
  const loadAverage = `Load average at the end: ${os.loadavg()[0]?.toFixed(2)}.`;
  console.log(`\n${aims}\n\n${loadAverage}`);
  sections.push('', aims, '', loadAverage, '');
  mkdirSync(new URL('.', resultsFile), { recursive: true });
  writeFileSync(resultsFile, sections.join('\n'));
  console.log(
    `\nWritten to ${fileURLToPath(resultsFile)} in ${((performance.now() - startedAt) / 1000).toFixed(0)} s.`,
  );
}

await main();
