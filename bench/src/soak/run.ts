// The soak suite: each scenario against a fresh echo server (apps/echo/bin/echo-server.js) for
// each strategy asked for, one line per scenario (`soak <strategy> <scenario>: … ... ok`, `FAILED`,
// `not held by design (use …)` or `not applicable`), then a summary line. Exits 1 when a scenario
// FAILED: a lost or wrong byte, a server that died, a bound not kept. See docs/reliability.md.
//   node bench/src/soak/run.ts [--short] [--strategy S,…] [--scenario X,…] [--write] [--help]
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fdLimitFor, loadAverageNow, machineInfo } from '../machine.ts';
import { killAllGroups } from '../managed-process.ts';
import { ensureFdLimit, softFdLimit } from './fd-limit.ts';
import { parseSoakOptions, type ScenarioId } from './options.ts';
import { fullSizes, shortSizes, type ByDesign, type Outcome, type Scenario, type Sizes } from './scenario.ts';
import { SoakServer } from './server.ts';
import { strategies, type Strategy } from './strategies.ts';
import { bulk } from './scenarios/bulk.ts';
import { flood } from './scenarios/flood.ts';
import { idle } from './scenarios/idle.ts';
import { longLine } from './scenarios/long-line.ts';
import { resets } from './scenarios/resets.ts';
import { slowloris } from './scenarios/slowloris.ts';
import { workerKills } from './scenarios/worker-kills.ts';

const scenarioById: Readonly<Record<ScenarioId, Scenario>> = {
  idle,
  slowloris,
  'long-line': longLine,
  bulk,
  resets,
  'worker-kills': workerKills,
  flood,
};
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** Descriptors the runner keeps beyond its connections (stdio, pipes, its servers' and the runtime's own). */
const fdSlack = 500;

const options = parseSoakOptions(process.argv.slice(2));
const requestedSizes = options.short ? shortSizes : fullSizes;
const clientFds = (sizes: Sizes): number =>
  Math.max(sizes.idleConnections, sizes.floodConnections, sizes.slowlorisClients) + fdSlack;
await ensureFdLimit(clientFds(requestedSizes));

// Ctrl-C (or a kill): stop every server, then leave.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllGroups();
    process.stderr.write(`\nsoak: ${signal}, every server stopped\n`);
    process.exit(130);
  });
}

const notes: string[] = [];
let sizes = requestedSizes;
const runnerFdLimit = softFdLimit();
if (runnerFdLimit < clientFds(sizes)) {
  const idleConnections = Math.max(1, runnerFdLimit - fdSlack - sizes.slowlorisClients);
  notes.push(
    `the fd limit is ${runnerFdLimit}: ${idleConnections} idle connections, not ${sizes.idleConnections}`,
  );
  sizes = { ...sizes, idleConnections, floodConnections: Math.min(sizes.floodConnections, idleConnections) };
}
const serverFdLimit = fdLimitFor(sizes.idleConnections * 2 + fdSlack);
const machine = machineInfo();
const startedAt = new Date();
const startedAtMs = performance.now();

type Status = 'ok' | 'FAILED' | 'not held by design' | 'not applicable';
interface ResultRecord {
  readonly strategy: string;
  readonly scenario: string;
  readonly label: string;
  readonly status: Status;
  readonly line: string;
  readonly seconds: number;
  readonly serverArgs?: readonly string[];
  readonly byDesign?: ByDesign;
  readonly figure?: string;
  readonly metrics?: Record<string, number | string>;
  readonly failures?: readonly string[];
}
const results: ResultRecord[] = [];

/** Runs `scenario` once against fresh servers; stops them; a server that died fails it. */
async function attempt(
  strategy: Strategy,
  scenario: Scenario,
  extraArgs: readonly string[],
): Promise<Outcome & { serverArgs: readonly string[] }> {
  const servers: SoakServer[] = [];
  let outcome: Outcome;
  try {
    outcome = await scenario.run({
      strategy,
      sizes,
      handler: options.handler,
      extraArgs,
      startServer: async ({ args = [], fdLimit = serverFdLimit, metrics = false } = {}) => {
        const server = await SoakServer.start({
          args: [...strategy.args, '--handler', options.handler, ...extraArgs, ...args],
          fdLimit,
          metrics,
        });
        servers.push(server);
        return server;
      },
    });
  } catch (error) {
    outcome = { figure: 'did not finish', metrics: {}, failures: [(error as Error).message] };
  }
  const deaths = servers.flatMap((server) => {
    const death = server.death;
    return death === undefined ? [] : [`${death}: ${server.stderr.trim().split('\n').slice(-3).join(' | ')}`];
  });
  const stopped = await Promise.all(servers.map(async (server) => server.stop()));
  if (stopped.some((hasStopped) => !hasStopped))
    notes.push(`${strategy.id} ${scenario.id}: the server did not exit within 5 s of SIGINT (killed)`);
  return {
    ...outcome,
    failures: [...deaths, ...outcome.failures],
    serverArgs: servers[0]?.args ?? [],
  };
}

async function runScenario(strategy: Strategy, scenario: Scenario): Promise<ResultRecord> {
  const label = scenario.label(sizes);
  const prefix = `soak ${strategy.id} ${label}:`;
  const scenarioStartedAt = performance.now();
  const seconds = (): number => Math.round((performance.now() - scenarioStartedAt) / 100) / 10;
  const base = { strategy: strategy.id, scenario: scenario.id, label };
  const notApplicable = scenario.notApplicable?.(strategy);
  if (notApplicable !== undefined) {
    return {
      ...base,
      status: 'not applicable',
      line: `${prefix} ${notApplicable} ... not applicable`,
      seconds: 0,
    };
  }
  const byDesign = scenario.byDesign?.(strategy, sizes);
  if (byDesign !== undefined && byDesign.rerunArgs === undefined) {
    const line = `${prefix} ${byDesign.reason} ... not held by design (use ${byDesign.fix})`;
    return { ...base, status: 'not held by design', line, seconds: 0, byDesign };
  }
  const outcome = await attempt(strategy, scenario, byDesign?.rerunArgs ?? []);
  const failed = outcome.failures.length > 0;
  const verdict = failed ? `FAILED: ${outcome.failures.join('; ')}` : byDesign === undefined ? 'ok' : '';
  const line =
    byDesign === undefined
      ? `${prefix} ${outcome.figure} [${seconds()} s] ... ${verdict}`
      : `${prefix} ${byDesign.reason}; with ${byDesign.fix}: ${outcome.figure} [${seconds()} s] ... ` +
        (failed ? verdict : `not held by design (use ${byDesign.fix}; held with it)`);
  return {
    ...base,
    status: failed ? 'FAILED' : byDesign === undefined ? 'ok' : 'not held by design',
    line,
    seconds: seconds(),
    serverArgs: outcome.serverArgs,
    ...(byDesign === undefined ? {} : { byDesign }),
    figure: outcome.figure,
    metrics: outcome.metrics,
    failures: outcome.failures,
  };
}

const strategyList = options.strategies.join(', ');
console.log(
  `soak: ${options.short ? 'short' : 'full'} run of ${options.scenarios.join(', ')} for ${strategyList} ` +
    `(--handler ${options.handler}); ${machine.hostname}: ${machine.cpuCount} × ${machine.cpuModel}, ` +
    `load average ${machine.loadAverageStart.join(' ')}; Node.js ${process.version}; fd limit ${runnerFdLimit} ` +
    `(servers ${serverFdLimit})`,
);
for (const note of notes) console.log(`soak: note: ${note}`);
try {
  for (const strategyId of options.strategies) {
    for (const scenarioId of options.scenarios) {
      const result = await runScenario(strategies[strategyId], scenarioById[scenarioId]);
      results.push(result);
      console.log(result.line);
    }
  }
} finally {
  killAllGroups();
}

const wallSeconds = Math.round((performance.now() - startedAtMs) / 100) / 10;
const tally = (status: Status): number => results.filter((result) => result.status === status).length;
const failed = tally('FAILED');
console.log(
  `soak: ${results.length} scenario runs (${strategyList}; ${options.short ? 'short' : 'full'}): ${tally('ok')} ok, ` +
    `${tally('not held by design')} not held by design, ${tally('not applicable')} not applicable, ${failed} FAILED; ` +
    `${wallSeconds} s, load average ${loadAverageNow()[0] ?? '?'}`,
);
for (const note of notes) console.log(`soak: note: ${note}`);

if (options.write) {
  const date = startedAt.toISOString().slice(0, 10);
  const file = path.join(
    repositoryRoot,
    'bench/results',
    `soak-${date}-${machine.hostname}${options.short ? '-short' : ''}.json`,
  );
  mkdirSync(path.dirname(file), { recursive: true });
  const record = {
    schemaVersion: 1,
    command: ['node bench/src/soak/run.ts', ...process.argv.slice(2)].join(' '),
    startedAt: startedAt.toISOString(),
    wallSeconds,
    machine: { ...machine, loadAverageEnd: loadAverageNow() },
    node: process.version,
    handler: options.handler,
    sizes,
    fdLimits: { runner: runnerFdLimit, server: serverFdLimit, flood: sizes.floodFdLimit },
    held: Object.fromEntries(options.scenarios.map((id) => [id, scenarioById[id].held])),
    results,
    notes,
  };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`soak: written ${path.relative(repositoryRoot, file)}`);
}
process.exit(failed > 0 ? 1 : 0);
