// The benchmark orchestrator. For each group of servers and each round (rounds interleaved:
// A B C A B C), start each server on port 0 (a server of several processes: the others on the
// first one's port), start a load generator process against it, run the server's scenarios one
// after the other, stop both. Then write the results JSON and generate docs/benchmarks.md (see
// report/). Exits non-zero if any run failed verification or crashed; aims that FAIL do not
// change the exit code (speed is never asserted).
//   node bench/src/run.ts [--quick] [--write] [--group G] [--help]
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateAims } from './aims.ts';
import { LoadGeneratorClient, type LoadGenerator } from './load-generator-client.ts';
import {
  buildCEcho,
  buildNativeLoadGenerator,
  fdLimitFor,
  findPython,
  loadAverageNow,
  machineInfo,
  makeTLSCertificate,
} from './machine.ts';
import { describeExit, killAllGroups } from './managed-process.ts';
import { NativeLoadGenerator } from './native-load-generator.ts';
import { parseRunOptions } from './options.ts';
import { cpuMetrics, sampleCpuOverWindow } from './process-cpu.ts';
import { processTreeRssBytes } from './process-tree-rss.ts';
import { formatMetric } from './report/format.ts';
import { renderSummary } from './report/markdown.ts';
import { writeReport } from './report/write-report.ts';
import {
  metricsOf,
  resultsSchemaVersion,
  summarizeRuns,
  type BenchResults,
  type CellRecord,
  type RunRecord,
} from './results.ts';
import { scenarioById, scenarios, type ScenarioId, type Timing } from './scenarios.ts';
import { ServerInstances } from './server-instances.ts';
import {
  echoHandlersAvailable,
  groupIds,
  groups,
  serverSpecs,
  skipReason,
  type Group,
  type GroupId,
  type ServerSpec,
} from './servers.ts';
import type { Endpoint } from './load/protocol.ts';

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const wantedFdLimit = 20_000;
/** File descriptors kept free beyond the idle connections (stdio, listeners, the runtime's own). */
const fdSlack = 500;

const options = parseRunOptions(process.argv.slice(2));
const startedAt = new Date();
const startedAtMs = performance.now();

// Ctrl-C (or a kill): stop every server and generator, then leave.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllGroups();
    process.stderr.write(`\nbench: ${signal}, every server and load generator stopped\n`);
    process.exit(130);
  });
}

const machine = machineInfo();
const python = findPython();
const cEcho = buildCEcho();
const nativeGenerator =
  options.loadGenerator === 'native' ? buildNativeLoadGenerator() : { unavailable: '--load-generator node' };
const echoHandlers = echoHandlersAvailable();
const tls = options.groups.includes('scale-out') ? makeTLSCertificate() : { unavailable: 'not needed' };
const fdLimit = fdLimitFor(wantedFdLimit);
const idleConnections = Math.max(1, Math.min(options.idleConnections, fdLimit - fdSlack));
const notes: string[] = [];
if (idleConnections < options.idleConnections) {
  notes.push(
    `the fd limit could only be raised to ${fdLimit}: the idle scenario opens ${idleConnections} connections, not ${options.idleConnections}`,
  );
}
for (const [what, tool] of [
  ['C ceiling', cEcho],
  ['Python rows', python],
  ...(options.groups.includes('scale-out') ? ([['TLS rows', tls]] as const) : []),
] as const) {
  if ('unavailable' in tool) notes.push(`${what} skipped: ${tool.unavailable}`);
}

if (!echoHandlers.includes('line')) {
  notes.push("echo line rows skipped: apps/echo does not accept --handler line (its --help lists no 'line')");
}
const loadGeneratorRecord =
  'path' in nativeGenerator
    ? {
        kind: 'native' as const,
        description:
          `native (load-native/load-generator.c, gcc -O2; ${options.loadProcesses} process(es) per scenario, one thread each, epoll), ` +
          `the Node.js one (${options.loadWorkers} worker thread(s)) for the idle scenario and TLS`,
      }
    : {
        kind: 'node' as const,
        description: `Node.js (src/load/generator.ts, ${options.loadWorkers} worker thread(s))`,
        ...(options.loadGenerator === 'native' ? { fallbackReason: nativeGenerator.unavailable } : {}),
      };
if ('unavailable' in nativeGenerator) {
  notes.push(
    `native load generator not used, the Node.js one runs everything: ${nativeGenerator.unavailable}`,
  );
}

const specs = serverSpecs({ cEcho, python, tls, echoHandlers }).filter(
  (spec) => options.only.length === 0 || options.only.some((id) => spec.id.includes(id)),
);
const runGroups = groups(specs).filter(
  (group) => options.groups.includes(group.id) && group.servers.length > 0,
);
const isPartial = options.only.length > 0;
const writesCommitted = options.write || (!options.quick && !isPartial);
/** Some groups, not all: the results and the document are named after them (`-scale-out`). */
const groupsSuffix = options.groups.length === groupIds.length ? '' : `-${options.groups.join('-')}`;
const command = [
  'node bench/src/run.ts',
  ...process.argv.slice(2),
  ...(process.env['npm_lifecycle_event'] === 'bench' ? ['(via pnpm bench)'] : []),
].join(' ');

// The options as the results record them: all but where to write and which servers.
const { write: _write, only: _only, ...runSettings } = options;
/** Each server once, in its first group (the idle and the scale-out groups share servers with echo). */
const listedServers: { spec: ServerSpec; group: GroupId }[] = [];
for (const group of runGroups) {
  for (const spec of group.servers) {
    if (!listedServers.some((listed) => listed.spec.id === spec.id))
      listedServers.push({ spec, group: group.id });
  }
}
const results: BenchResults = {
  schemaVersion: resultsSchemaVersion,
  command,
  startedAt: startedAt.toISOString(),
  finishedAt: startedAt.toISOString(),
  wallSeconds: 0,
  machine,
  runtime: {
    node: process.version,
    python: 'version' in python ? python.version : 'not available',
    cCompiler: 'compiler' in cEcho ? cEcho.compiler : 'not available',
    ...('openssl' in tls
      ? {
          tls: `OpenSSL ${process.versions.openssl} (Node.js's); a self-signed ECDSA P-256 certificate made with ${tls.openssl}`,
        }
      : {}),
  },
  settings: {
    ...runSettings,
    idleConnections,
    idleConnectionsWanted: options.idleConnections,
    fdLimit,
  },
  loadGenerator: loadGeneratorRecord,
  scenarios: scenarios.map(({ id, title, description }) => ({ id, title, description })),
  servers: listedServers.map(({ spec, group }) => ({
    id: spec.id,
    name: spec.name,
    kind: spec.kind,
    group,
    ...(spec.handler === undefined ? {} : { handler: spec.handler }),
    ...(spec.strategy === undefined ? {} : { strategy: spec.strategy }),
    commandLine: [spec.command, ...spec.args]
      .map((part) => path.relative(repositoryRoot, part) || part)
      .join(' '),
    ...(spec.instances === undefined ? {} : { instances: spec.instances }),
    ...(spec.baselineId === undefined ? {} : { baselineId: spec.baselineId }),
    ...(spec.asyncId === undefined ? {} : { asyncId: spec.asyncId }),
    ...(spec.pythonId === undefined ? {} : { pythonId: spec.pythonId }),
    ...(spec.unavailable === undefined ? {} : { unavailable: spec.unavailable }),
  })),
  cells: [],
  aims: [],
  failures: [],
  notes,
  verifiedBytes: 0,
};

/** The scenarios `spec` runs in its group; the others go into the results as skipped. */
function plannedScenarios(spec: ServerSpec, scenarioIds: readonly ScenarioId[]): ScenarioId[] {
  const planned: ScenarioId[] = [];
  for (const scenario of scenarioIds) {
    const reason = spec.unavailable ?? skipReason(scenario, spec);
    results.cells.push({
      scenario,
      server: spec.id,
      status: reason === undefined ? 'measured' : 'skipped',
      ...(reason === undefined ? {} : { reason }),
      runs: [],
      summary: {},
    });
    if (reason === undefined) planned.push(scenario);
  }
  return planned;
}

const plans = runGroups.map((group) => ({
  group,
  planned: new Map(group.servers.map((spec) => [spec.id, plannedScenarios(spec, group.scenarios)])),
}));
const totalRuns = plans.reduce(
  (sum, { planned }) =>
    sum + [...planned.values()].reduce((count, list) => count + list.length, 0) * options.rounds,
  0,
);
let runsDone = 0;

const cell = (scenario: ScenarioId, server: string): CellRecord => {
  const found = results.cells.find(
    (candidate) => candidate.scenario === scenario && candidate.server === server,
  );
  if (found === undefined) throw new Error(`no cell ${server} / ${scenario}`);
  return found;
};

function progress(
  spec: ServerSpec,
  scenario: ScenarioId,
  round: number,
  run: RunRecord,
  seconds: number,
): void {
  runsDone += 1;
  const counter = `[${String(runsDone).padStart(String(totalRuns).length)}/${totalRuns}]`;
  const shown =
    run.status === 'ok' ? formatMetric(scenario, run.metrics) : `FAILED: ${run.failure ?? 'unknown'}`;
  const verified =
    typeof run.raw['verifiedBytes'] === 'number'
      ? `, ${(run.raw['verifiedBytes'] / 1e6).toFixed(1)} MB verified`
      : '';
  console.log(
    `${counter} round ${round}/${options.rounds}  ${spec.name.padEnd(26)} ${scenario.padEnd(11)}  ${shown}${run.status === 'ok' ? verified : ''} (${seconds.toFixed(1)} s)`,
  );
}

function record(spec: ServerSpec, scenario: ScenarioId, run: RunRecord): void {
  cell(scenario, spec.id).runs.push(run);
  if (typeof run.raw['verifiedBytes'] === 'number') results.verifiedBytes += run.raw['verifiedBytes'];
  if (run.status === 'failed')
    results.failures.push(`${spec.name} / ${scenario} / round ${run.round}: ${run.failure ?? ''}`);
}

const failedRun = (round: number, failure: string): RunRecord => ({
  round,
  status: 'failed',
  failure,
  metrics: {},
  raw: {},
});

/** Where the load goes for `spec`: its port, and for a TLS server the certificate to check. */
function endpointOf(spec: ServerSpec, port: number): Endpoint {
  return spec.isTls === true && 'certPem' in tls ? { port, tlsCa: tls.certPem } : { port };
}

/** RSS of every process of `server`, with their descendants. */
function serverRss(server: ServerInstances): { bytes: number; processes: number } {
  return server.pids
    .map((pid) => processTreeRssBytes(pid))
    .reduce((sum, part) => ({ bytes: sum.bytes + part.bytes, processes: sum.processes + part.processes }));
}

/** One scenario against a running server; a failure becomes a failed run, never an exception. */
async function runScenario(
  spec: ServerSpec,
  server: ServerInstances,
  generator: LoadGenerator,
  port: number,
  scenarioId: ScenarioId,
  timing: Timing,
  round: number,
): Promise<RunRecord> {
  const scenario = scenarioById(scenarioId);
  const request = { ...scenario.request(port, timing, idleConnections), ...endpointOf(spec, port) };
  const timeoutMs =
    timing.warmupMs + timing.durationMs + timing.drainMs + (scenarioId === 'idle' ? 120_000 : 30_000);
  const rss: Record<string, number> = {};
  const cpu = scenario.isServerCpuSampled ? sampleCpuOverWindow(() => server.pids, timing) : undefined;
  const outcome = await generator
    .run(request, timeoutMs, {
      beforeOpen: () => {
        const before = serverRss(server);
        rss['rssBeforeBytes'] = before.bytes;
      },
      afterOpen: (connections, elapsedMs) => {
        const after = serverRss(server);
        rss['rssAfterBytes'] = after.bytes;
        rss['serverProcesses'] = after.processes;
        rss['connectionsOpen'] = connections;
        rss['openMs'] = Math.round(elapsedMs);
      },
    })
    .finally(() => cpu?.finish());
  const { tally, elapsedMs, generatorCpuSeconds, generatorUserCpuSeconds, generatorCores } = outcome;
  const { start: cpuStart, end: cpuEnd } = cpu?.samples ?? {};
  const cpuRaw =
    cpuStart === undefined || cpuEnd === undefined
      ? {}
      : {
          cpuSecondsAtStart: cpuStart.processSeconds.join(' '),
          cpuSecondsAtEnd: cpuEnd.processSeconds.join(' '),
          mainThreadCpuSeconds: `${cpuStart.mainThreadSeconds} ${cpuEnd.mainThreadSeconds}`,
        };
  const raw = {
    operations: tally.operations,
    windowBytes: tally.windowBytes,
    verifiedBytes: tally.verifiedBytes,
    connectionsOpened: tally.connectionsOpened,
    warmupMs: timing.warmupMs,
    durationMs: timing.durationMs,
    elapsedMs: Math.round(elapsedMs),
    histogram: tally.histogram,
    failureCount: tally.failureCount,
    loadGenerator: generator.kind,
    ...(generatorCpuSeconds === undefined ? {} : { generatorCpuSeconds, generatorCores }),
    ...(generatorUserCpuSeconds === undefined ? {} : { generatorUserCpuSeconds }),
    ...rss,
    ...cpuRaw,
  };
  if (tally.failureCount > 0) {
    return {
      round,
      status: 'failed',
      failure: `${tally.failureCount} failure(s): ${tally.failures.join('; ')}`,
      metrics: {},
      raw,
    };
  }
  let metrics = metricsOf(scenarioId, tally, timing.durationMs);
  if (cpuStart !== undefined && cpuEnd !== undefined) {
    metrics = { ...metrics, ...cpuMetrics(cpuStart, cpuEnd, tally.operations, timing.durationMs) };
  }
  if (generatorCpuSeconds !== undefined && generatorCpuSeconds > 0) {
    // The generator's own CPU in the window: the cores it kept busy (of `generatorCores` it could
    // use) and the operations per second of its CPU time, against the C server the ceiling.
    metrics = {
      ...metrics,
      generatorCores: Math.round((generatorCpuSeconds / (timing.durationMs / 1000)) * 1000) / 1000,
      generatorCoreShare:
        Math.round((generatorCpuSeconds / (timing.durationMs / 1000) / generatorCores) * 1000) / 1000,
      operationsPerGeneratorCpuSecond: Math.round(tally.operations / generatorCpuSeconds),
      ...(generatorUserCpuSeconds === undefined || generatorUserCpuSeconds <= 0
        ? {}
        : { operationsPerGeneratorUserCpuSecond: Math.round(tally.operations / generatorUserCpuSeconds) }),
    };
  }
  if (scenarioId === 'idle') {
    const { rssBeforeBytes = 0, rssAfterBytes = 0, connectionsOpen = 0 } = rss;
    metrics = {
      connections: connectionsOpen,
      rssBeforeBytes,
      rssAfterBytes,
      rssPerConnectionBytes: Math.round((rssAfterBytes - rssBeforeBytes) / Math.max(1, connectionsOpen)),
      openSeconds: (rss['openMs'] ?? 0) / 1000,
    };
    if (connectionsOpen !== idleConnections) {
      return {
        round,
        status: 'failed',
        failure: `${connectionsOpen} of ${idleConnections} connections opened`,
        metrics: {},
        raw,
      };
    }
  }
  if (tally.operations === 0 && scenarioId !== 'idle') {
    notes.push(
      `${spec.name} / ${scenarioId} / round ${round}: nothing completed inside the measured window (every echo still verified)`,
    );
  }
  return { round, status: 'ok', metrics, raw };
}

/** The native load generator (it starts the Node.js one if a scenario needs it), or the Node.js one. */
const newLoadGenerator = (): LoadGenerator =>
  'path' in nativeGenerator
    ? new NativeLoadGenerator(nativeGenerator.path, options.loadProcesses, options.loadWorkers, fdLimit)
    : new LoadGeneratorClient(options.loadWorkers, fdLimit);

/**
 * The warm-up before the `index`th scenario of `spec` in `group`: longer before the first one of a
 * server that starts threads or processes as connections come (`--first-warmup`), and before the
 * first one of every server of a group that asks for it (the pools group: `--pools-warmup`).
 */
function warmupSecondsOf(group: Group, spec: ServerSpec, index: number): number {
  if (index > 0) return options.warmupSeconds;
  if (group.hasLongFirstWarmup === true) return Math.max(options.poolsWarmupSeconds, options.warmupSeconds);
  return spec.startsWorkers
    ? Math.max(options.firstWarmupSeconds, options.warmupSeconds)
    : options.warmupSeconds;
}

/** Starts `spec`, runs its scenarios (a new load generator after one fails), stops it. */
async function measureServer(
  group: Group,
  spec: ServerSpec,
  scenarioIds: readonly ScenarioId[],
  round: number,
): Promise<void> {
  const server = new ServerInstances(spec.command, spec.args, spec.instances ?? 1, fdLimit);
  // Started alongside the server: both start-ups overlap.
  let generator: LoadGenerator | undefined = newLoadGenerator();
  let isGeneratorReady = false;
  const fail = (from: number, reason: string): void => {
    for (const scenario of scenarioIds.slice(from)) {
      const run = failedRun(round, reason);
      record(spec, scenario, run);
      progress(spec, scenario, round, run, 0);
    }
  };
  try {
    let port: number;
    try {
      port = await server.listening(20_000);
    } catch (error) {
      await server.waitForExit(1_000);
      const stderr = server.stderr.trim().split('\n')[0] ?? '';
      return fail(
        0,
        `the server did not start: ${(error as Error).message}${stderr === '' ? '' : `; stderr: ${stderr}`}`,
      );
    }
    for (const [index, scenario] of scenarioIds.entries()) {
      const startedAt = performance.now();
      if (server.exitStatus !== undefined) {
        return fail(
          index,
          `the server exited (${describeExit(server.exitStatus)}): ${server.stderr.trim().slice(0, 300)}`,
        );
      }
      generator ??= newLoadGenerator();
      if (!isGeneratorReady) {
        isGeneratorReady = true;
        const notReady = await generator
          .ready(endpointOf(spec, port), 20_000)
          .catch((error: unknown) => (error as Error).message);
        if (notReady !== undefined) return fail(index, `the server did not echo: ${notReady}`);
      }
      const warmupSeconds = warmupSecondsOf(group, spec, index);
      const timing: Timing = {
        warmupMs: warmupSeconds * 1000,
        durationMs: options.durationSeconds * 1000,
        drainMs: options.drainSeconds * 1000,
      };
      let run: RunRecord;
      try {
        run = await runScenario(spec, server, generator, port, scenario, timing, round);
      } catch (error) {
        run = failedRun(round, (error as Error).message);
        await generator.close();
        generator = undefined; // a fresh one for the next scenario
        isGeneratorReady = false;
      }
      record(spec, scenario, run);
      progress(spec, scenario, round, run, (performance.now() - startedAt) / 1000);
    }
  } finally {
    const [, hasStopped] = await Promise.all([generator?.close(), server.stop(5_000)]);
    if (!hasStopped) notes.push(`${spec.name}, round ${round}: did not exit within 5 s of SIGINT (killed)`);
    const stderr = server.stderr.trim();
    if (stderr !== '' && !notes.some((note) => note.startsWith(`${spec.name}: wrote to stderr`))) {
      notes.push(`${spec.name}: wrote to stderr: ${stderr.split('\n')[0]?.slice(0, 200) ?? ''}`);
    }
  }
}

console.log(
  `bench: ${options.quick ? 'quick' : 'full'} run, ${options.rounds} round(s), ${totalRuns} runs; ` +
    `${machine.hostname}: ${machine.cpuCount} × ${machine.cpuModel}, ${(machine.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, ` +
    `load average ${machine.loadAverageStart.join(' ')}; Node.js ${process.version}, ${results.runtime.python}; ` +
    `fd limit ${fdLimit}; load generator: ${loadGeneratorRecord.description}`,
);
for (const note of notes) console.log(`bench: ${note}`);

try {
  for (const { group, planned } of plans) {
    for (let round = 1; round <= options.rounds; round += 1) {
      // Rotate the order each round, so no server always runs first or right after the same one.
      const servers = group.servers.map(
        (_, index) => group.servers[(index + round - 1) % group.servers.length] as ServerSpec,
      );
      for (const spec of servers) {
        const scenarioIds = planned.get(spec.id) ?? [];
        if (scenarioIds.length > 0) await measureServer(group, spec, scenarioIds, round);
      }
    }
  }
} finally {
  killAllGroups();
  if ('path' in cEcho) rmSync(path.dirname(cEcho.path), { recursive: true, force: true });
  if ('path' in nativeGenerator) rmSync(path.dirname(nativeGenerator.path), { recursive: true, force: true });
  if ('certPath' in tls) rmSync(path.dirname(tls.certPath), { recursive: true, force: true });
}

for (const entry of results.cells) {
  entry.summary = summarizeRuns(entry.runs);
  if (
    entry.status === 'measured' &&
    entry.runs.length > 0 &&
    entry.runs.every((run) => run.status === 'failed')
  ) {
    (entry as { status: CellRecord['status'] }).status = 'failed';
  }
}
results.aims = evaluateAims(results);
results.machine.loadAverageEnd = loadAverageNow();
results.finishedAt = new Date().toISOString();
results.wallSeconds = Math.round((performance.now() - startedAtMs) / 100) / 10;

const date = startedAt.toISOString().slice(0, 10);
const baseName = `${date}-${machine.hostname}${groupsSuffix}`;
// All groups: docs/benchmarks.md. Some groups: a document of their own next to the results.
const outputs = writesCommitted
  ? {
      results: path.join(repositoryRoot, 'bench/results', `${baseName}.json`),
      markdown:
        groupsSuffix === ''
          ? path.join(repositoryRoot, 'docs/benchmarks.md')
          : path.join(repositoryRoot, 'bench/results', `${baseName}.md`),
    }
  : {
      results: path.join(repositoryRoot, 'bench/results/quick', `${baseName}.json`),
      markdown: path.join(repositoryRoot, 'bench/results/quick', `benchmarks${groupsSuffix}.md`),
    };
writeReport(results, outputs.results, outputs.markdown);

const summary = renderSummary(results);
if (summary !== '') console.log(`\n${summary}\n`);
for (const note of results.notes) console.log(`note: ${note}`);
console.log(
  `\nbench: ${results.wallSeconds} s, load average ${results.machine.loadAverageStart[0] ?? '?'} → ${results.machine.loadAverageEnd[0] ?? '?'}; ` +
    `${(results.verifiedBytes / 1e6).toFixed(0)} MB of echo verified byte for byte.\n` +
    `Written: ${path.relative(repositoryRoot, outputs.results)}, ${path.relative(repositoryRoot, outputs.markdown)} (and its SVGs)` +
    (writesCommitted ? '' : '; a quick run leaves the committed results alone (--write to replace them)'),
);
if (results.failures.length > 0) {
  console.log(`\nbench: FAILED: ${results.failures.length} run(s) failed verification or crashed:`);
  for (const failure of results.failures) console.log(`  - ${failure}`);
  process.exitCode = 1;
} else {
  console.log('bench: every run verified every byte (aims are reported, never asserted).');
}
