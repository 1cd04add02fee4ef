// docs/benchmarks.md from a results file: the run, the load generator's ceiling, the aims, one
// table and chart per scenario, what was skipped and why, and bench/findings.md verbatim.
// The output is already in Prettier's format (`prettier --check` passes on it).
import { boundShare, ceilingOf, ceilingRates, ceilingServerId, loadGeneratorBound } from '../ceiling.ts';
import {
  cellOf,
  groupsOf,
  medianOf,
  type BenchResults,
  type CellRecord,
  type ServerRecord,
} from '../results.ts';
import { scenarioById, type ScenarioId } from '../scenarios.ts';
import { poolsAsyncId, pythonPoolId } from '../servers.ts';
import type { Summary } from '../stats.ts';
import { fixed, integer, percent, ratio } from './format.ts';

/** The row a server's "vs baseline" ratio (and its bar in the chart) divides by, in `scenario`. */
export function referenceOf(scenario: ScenarioId, server: ServerRecord): string | undefined {
  if (scenario === 'cpu') return server.asyncId;
  if (scenario.startsWith('pools-')) return poolsAsyncId;
  if (scenario === 'idle') return 'raw-net';
  return server.baselineId;
}

const lineRowsText =
  'raw rows ÷ node:net raw (pipe), stream and line rows (and Python, and the per-line echo) ÷ node:net line echo, batched';

export const referenceText: Readonly<Record<ScenarioId, string>> = {
  throughput: lineRowsText,
  'pingpong-1': lineRowsText,
  'pingpong-50': lineRowsText,
  connect: lineRowsText,
  large: lineRowsText,
  idle: 'every row ÷ node:net raw (pipe)',
  cpu: 'every row ÷ cpu-echo async',
  'scale-connect': 'plain rows ÷ node:net raw (pipe), TLS rows ÷ node:tls raw (pipe)',
  'scale-pingpong-n': 'every row ÷ node:net raw (pipe)',
  'scale-pingpong-32': 'every row ÷ node:net raw (pipe)',
  'scale-bulk-n': 'plain rows ÷ node:net raw (pipe), TLS rows ÷ node:tls raw (pipe)',
  'pools-connect':
    'every row ÷ echo raw async, 1 process ("vs async" and the chart); "vs Python pool" ÷ Python pool (16 threads)',
  'pools-large': 'every row ÷ echo raw async, 1 process ("vs async" and the chart)',
};

/** What the server CPU columns of the scale-out and pools scenarios are. */
const serverCpuText =
  "- Server CPU (scale-out and pools tables): user + system time of the server's processes (with their children) in the measured window, from /proc/PID/stat (10 ms ticks); " +
  '"cores": CPU seconds ÷ window seconds; "CPU µs per …": that CPU ÷ what was counted in the window; ' +
  '"main thread µs": the part spent on the main thread of a one-process server, which accepts every connection (a pool\'s also hands it to a worker; with `--accept workers` the workers accept and the main thread only keeps count); ' +
  '"busiest process": with N processes on one port, the busiest one\'s share of that CPU (100% ÷ N is even; 100%: one process did all the work).';

/** A table in Prettier's Markdown layout: cells padded to the widest in each column. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const width = (text: string): number => [...text].length;
  const widths = header.map((title, column) =>
    Math.max(3, width(title), ...rows.map((cells) => width(cells[column] ?? ''))),
  );
  const line = (cells: readonly string[]): string =>
    `| ${widths
      .map((columnWidth, column) => {
        const text = cells[column] ?? '';
        return text + ' '.repeat(columnWidth - width(text));
      })
      .join(' | ')} |`;
  return [line(header), line(widths.map((columnWidth) => '-'.repeat(columnWidth))), ...rows.map(line)].join(
    '\n',
  );
}

const withRange = (summary: Summary | undefined, format: (value: number) => string): string =>
  summary === undefined
    ? '—'
    : summary.runs === 1
      ? format(summary.median)
      : `${format(summary.median)} (${format(summary.min)}–${format(summary.max)})`;
const medianText = (summary: Summary | undefined, format: (value: number) => string): string =>
  summary === undefined ? '—' : format(summary.median);

function ratioText(
  results: BenchResults,
  scenario: ScenarioId,
  server: string,
  reference: string | undefined,
  metric: string,
): string {
  const value = medianOf(results, scenario, server, metric);
  const base = medianOf(results, scenario, reference, metric);
  return value === undefined || base === undefined || base === 0 ? '—' : ratio(value / base);
}

interface Column {
  readonly title: string;
  readonly cell: (cell: CellRecord, server: ServerRecord) => string;
}

function columnsOf(results: BenchResults, scenario: ScenarioId): Column[] {
  const metric = (
    title: string,
    name: string,
    format: (value: number) => string,
    isRanged = false,
  ): Column => ({
    title,
    cell: (cell) => (isRanged ? withRange : medianText)(cell.summary[name], format),
  });
  const versus = (
    title: string,
    name: string,
    pick: (server: ServerRecord) => string | undefined,
  ): Column => ({
    title,
    cell: (cell, server) => ratioText(results, scenario, server.id, pick(server), name),
  });
  const baseline = (name: string, title = 'vs baseline'): Column =>
    versus(title, name, (server) => referenceOf(scenario, server));
  const strategy = (name: string): Column => versus('vs async', name, (server) => server.asyncId);
  const python = (name: string, title = 'vs Python'): Column =>
    versus(title, name, (server) => server.pythonId);
  const mebibytes = (value: number): string => fixed(value / 2 ** 20, 1);
  const microseconds = (value: number): string => (value < 100 ? fixed(value, 1) : integer(value));
  const generatorCpu = metric('load generator CPU, cores', 'generatorCores', (value) => fixed(value, 2));
  const serverCpu = (operation: string, hasSeveralProcesses = true): Column[] => [
    metric('server CPU, cores', 'serverCores', (value) => fixed(value, 2)),
    metric(`CPU µs per ${operation}`, 'cpuUsPerOperation', microseconds),
    metric('main thread µs', 'mainThreadUsPerOperation', microseconds),
    ...(hasSeveralProcesses
      ? [metric('busiest process (min–max)', 'busiestProcessShare', percent, true)]
      : []),
  ];
  switch (scenario) {
    case 'throughput':
      return [
        metric('lines/s (min–max)', 'linesPerSecond', integer, true),
        metric('MB/s', 'megabytesPerSecond', (value) => fixed(value, 2)),
        baseline('linesPerSecond'),
        strategy('linesPerSecond'),
        python('linesPerSecond'),
        generatorCpu,
      ];
    case 'pingpong-1':
    case 'pingpong-50':
      return [
        metric('round trips/s', 'roundTripsPerSecond', integer),
        metric('p50 µs', 'p50Us', integer),
        metric('p99 µs (min–max)', 'p99Us', integer, true),
        metric('p99.9 µs', 'p999Us', integer),
        baseline('p99Us', 'p99 vs baseline (lower is better)'),
        python('roundTripsPerSecond', 'round trips vs Python'),
        generatorCpu,
      ];
    case 'connect':
      return [
        metric('connections/s (min–max)', 'connectionsPerSecond', integer, true),
        metric('p50 ms', 'p50Ms', (value) => fixed(value, 2)),
        metric('p99 ms', 'p99Ms', (value) => fixed(value, 2)),
        baseline('connectionsPerSecond'),
        strategy('connectionsPerSecond'),
        python('connectionsPerSecond'),
        generatorCpu,
      ];
    case 'large':
      return [
        metric('MB/s (min–max)', 'megabytesPerSecond', (value) => fixed(value, 1), true),
        metric('ms per transfer, p50', 'transferP50Ms', (value) => fixed(value, 1)),
        metric('p99', 'transferP99Ms', (value) => fixed(value, 1)),
        baseline('megabytesPerSecond'),
        strategy('megabytesPerSecond'),
        python('megabytesPerSecond'),
        generatorCpu,
      ];
    case 'idle':
      return [
        metric('connections', 'connections', integer),
        metric('RSS before, MiB', 'rssBeforeBytes', mebibytes),
        metric('RSS after, MiB', 'rssAfterBytes', mebibytes),
        metric(
          'KiB per connection (min–max)',
          'rssPerConnectionBytes',
          (value) => fixed(value / 1024, 2),
          true,
        ),
        baseline('rssPerConnectionBytes', 'vs node:net raw (lower is better)'),
      ];
    case 'cpu':
      return [
        metric('lines/s (min–max)', 'linesPerSecond', integer, true),
        strategy('linesPerSecond'),
        python('linesPerSecond'),
      ];
    case 'scale-connect':
      return [
        metric('connections/s (min–max)', 'connectionsPerSecond', integer, true),
        metric('p50 ms', 'p50Ms', (value) => fixed(value, 2)),
        metric('p99 ms', 'p99Ms', (value) => fixed(value, 2)),
        baseline('connectionsPerSecond'),
        strategy('connectionsPerSecond'),
        ...serverCpu('connection'),
      ];
    case 'scale-pingpong-n':
    case 'scale-pingpong-32':
      return [
        metric('round trips/s (min–max)', 'roundTripsPerSecond', integer, true),
        metric('p50 µs', 'p50Us', integer),
        metric('p99 µs', 'p99Us', integer),
        metric('p99.9 µs', 'p999Us', integer),
        baseline('roundTripsPerSecond'),
        strategy('roundTripsPerSecond'),
        ...serverCpu('round trip'),
      ];
    case 'scale-bulk-n':
      return [
        metric('MB/s (min–max)', 'megabytesPerSecond', (value) => fixed(value, 1), true),
        baseline('megabytesPerSecond'),
        strategy('megabytesPerSecond'),
        ...serverCpu('1 KiB line'),
      ];
    // Every row ÷ the group's async row (referenceOf), Python's pool included.
    case 'pools-connect':
      return [
        metric('connections/s (min–max)', 'connectionsPerSecond', integer, true),
        metric('p50 ms', 'p50Ms', (value) => fixed(value, 2)),
        metric('p99 ms', 'p99Ms', (value) => fixed(value, 2)),
        baseline('connectionsPerSecond', 'vs async'),
        versus('vs Python pool', 'connectionsPerSecond', () => pythonPoolId),
        ...serverCpu('connection', false),
        generatorCpu,
      ];
    case 'pools-large':
      return [
        metric('MB/s (min–max)', 'megabytesPerSecond', (value) => fixed(value, 1), true),
        metric('ms per transfer, p50', 'transferP50Ms', (value) => fixed(value, 1)),
        metric('p99', 'transferP99Ms', (value) => fixed(value, 1)),
        baseline('megabytesPerSecond', 'vs async'),
        ...serverCpu('1 MiB transfer', false),
        generatorCpu,
      ];
  }
}

/** The servers of a scenario, in the order they are listed in the results. */
function serversOf(
  results: BenchResults,
  scenario: ScenarioId,
): { server: ServerRecord; cell: CellRecord }[] {
  return results.servers.flatMap((server) => {
    const cell = cellOf(results, scenario, server.id);
    return cell === undefined ? [] : [{ server, cell }];
  });
}

export function renderScenario(
  results: BenchResults,
  scenario: ScenarioId,
  chartPath: string | undefined,
): string {
  const { title, description } = scenarioById(scenario);
  const entries = serversOf(results, scenario);
  if (entries.length === 0) return '';
  const columns = columnsOf(results, scenario);
  const measured = entries.filter(({ cell }) => cell.status !== 'skipped');
  const marks = new Set<string>();
  const rows = measured.map(({ server, cell }) => {
    if (cell.status === 'failed' || Object.keys(cell.summary).length === 0)
      return [server.name, 'FAILED', ...columns.slice(1).map(() => '')];
    const mark = loadGeneratorBound(results, scenario, server.id);
    if (mark !== undefined) marks.add(mark);
    const name = `${server.name}${mark === undefined ? '' : ` ${mark}`}`;
    return [
      cell.runs.some((run) => run.status === 'failed') ? `${name} (some runs failed)` : name,
      ...columns.map((column) => column.cell(cell, server)),
    ];
  });
  const ceiling = ceilingOf(results, scenario);
  const unit = ceilingRates[scenario]?.unit ?? '';
  const footnotes = [
    ...(marks.has('†') && ceiling !== undefined
      ? [
          `† load-generator-bound: at least ${percent(boundShare)} of the load generator's ceiling (${integer(ceiling)} ${unit} per CPU-second of its own); it measured the generator as much as the server.`,
        ]
      : []),
    ...(marks.has('‡')
      ? [
          `‡ load-generator-bound: the load generator kept at least ${percent(boundShare)} of the cores it could use busy in this cell.`,
        ]
      : []),
  ];
  const skipped = entries.filter(({ cell }) => cell.status === 'skipped');
  return [
    `## ${title}`,
    '',
    description,
    '',
    `Ratios: ${referenceText[scenario]}` +
      (!columns.some((column) => column.title === 'vs async') || scenario.startsWith('pools-')
        ? '.'
        : scenario.startsWith('scale-')
          ? `; "vs async" divides by the one-process async row${referenceText[scenario].includes('TLS') ? ' (a TLS row by the TLS one)' : ''}.`
          : `; "vs async" divides by the same handler's async row.`),
    ...(chartPath === undefined ? [] : ['', `![${title}: ratios against the baseline](${chartPath})`]),
    '',
    markdownTable(['server', ...columns.map((column) => column.title)], rows),
    ...(footnotes.length === 0
      ? []
      : ['', ...footnotes.flatMap((note, index) => (index === 0 ? [note] : ['', note]))]),
    ...(skipped.length === 0
      ? []
      : ['', 'Skipped:', '', ...skipped.map(({ server, cell }) => `- ${server.name}: ${cell.reason ?? ''}`)]),
  ].join('\n');
}

export function renderAimsTable(results: BenchResults): string {
  const rows = results.aims.map((aim) => [
    aim.description,
    aim.ratio === undefined ? '—' : ratio(aim.ratio),
    aim.note === undefined ? aim.status : `${aim.status} (${aim.note})`,
  ]);
  const passed = results.aims.filter((aim) => aim.status === 'PASS').length;
  const aims = results.aims.filter((aim) => aim.status !== 'reported').length;
  return [
    `## Aims: ${passed} of ${aims} met`,
    '',
    markdownTable(['aim', 'ratio (medians)', 'result'], rows),
  ].join('\n');
}

/**
 * The load generator's ceiling per scenario (operations per second of its own CPU time against
 * the C echo server, see ceiling.ts) and its ratio to node:net raw (pipe) in the same run.
 */
export function renderCeiling(results: BenchResults): string {
  const server = results.servers.find((candidate) => candidate.id === ceilingServerId);
  const scenarioNames: Partial<Record<ScenarioId, string>> = {
    throughput: 'stream throughput',
    'pingpong-1': 'ping-pong, 1 connection',
    'pingpong-50': 'ping-pong, 50 connections',
    connect: 'connection rate',
  };
  const rows = Object.entries(scenarioNames).flatMap(([id, name]) => {
    const scenario = id as ScenarioId;
    const rate = ceilingRates[scenario];
    const ceiling = ceilingOf(results, scenario);
    if (rate === undefined || ceiling === undefined) return [];
    const pipe = medianOf(results, scenario, 'raw-net', rate.metric);
    const against = medianOf(results, scenario, ceilingServerId, rate.metric);
    const cores = medianOf(results, scenario, ceilingServerId, 'generatorCores');
    const ownCode = medianOf(results, scenario, ceilingServerId, 'operationsPerGeneratorUserCpuSecond');
    return [
      [
        name,
        `${integer(ceiling)} ${rate.unit}`,
        pipe === undefined || pipe === 0
          ? '—'
          : `${integer(pipe)} (ceiling = ${ratio(ceiling / pipe)} the pipe)`,
        ownCode === undefined
          ? '—'
          : `${integer(ownCode)}${pipe === undefined || pipe === 0 ? '' : ` (${ratio(ownCode / pipe)} the pipe)`}`,
        against === undefined ? '—' : integer(against),
        cores === undefined ? '—' : fixed(cores, 2),
      ],
    ];
  });
  if (rows.length === 0) {
    return legacyCeiling(results, server);
  }
  return [
    '## Load generator ceiling',
    '',
    `Load generator: ${results.loadGenerator?.description ?? 'Node.js'}. ` +
      'Its ceiling is what it would sustain with one core of its own: the operations it completed per second of its own CPU time (user + system over the measured window) against the C epoll echo server (`bench/baselines/c-echo.c`), median over the rounds. ' +
      `A cell at ${percent(boundShare)} of its scenario's ceiling or more is marked † (load-generator-bound), and so is ‡ a cell in which the generator kept ${percent(boundShare)} of its cores busy; aims computed from such cells are not claimed. ` +
      "Over loopback most of the generator's CPU is the kernel's: its system calls, which also run the TCP receive path of the server's side. The column \"its own code\" divides by its user-space CPU alone: what the instrument itself costs.",
    '',
    markdownTable(
      [
        'scenario',
        'ceiling (per generator CPU-second)',
        'node:net raw (pipe), same run',
        'its own code (per user-space CPU-second)',
        'against the C server',
        'generator CPU there, cores',
      ],
      rows,
    ),
  ].join('\n');
}

/** Results from before the native generator: its rates against the C server, as they were reported. */
function legacyCeiling(results: BenchResults, server: ServerRecord | undefined): string {
  const lines = medianOf(results, 'throughput', ceilingServerId, 'linesPerSecond');
  const megabytes = medianOf(results, 'throughput', ceilingServerId, 'megabytesPerSecond');
  if (lines === undefined || megabytes === undefined) {
    return `## Load generator ceiling\n\nNot measured: ${server?.unavailable ?? 'the C echo server has no throughput result'}.`;
  }
  const pingPong = (scenario: 'pingpong-1' | 'pingpong-50'): string => {
    const trips = medianOf(results, scenario, ceilingServerId, 'roundTripsPerSecond');
    const p99 = medianOf(results, scenario, ceilingServerId, 'p99Us');
    return trips === undefined || p99 === undefined
      ? 'not measured'
      : `${integer(trips)} round trips/s (p99 ${integer(p99)} µs)`;
  };
  return [
    '## Load generator ceiling',
    '',
    `The load generator's ceiling is **${integer(lines)} lines/s / ${fixed(megabytes, 1)} MB/s** ` +
      '(stream throughput against a C epoll echo server, `bench/baselines/c-echo.c`, on the same machine), ' +
      `${pingPong('pingpong-1')} on one ping-pong connection and ${pingPong('pingpong-50')} on 50. ` +
      'A Node.js server close to these numbers is limited by the load generator and the shared cores, not by itself. ' +
      'The C row is this reference only, never a baseline for ratios.',
  ].join('\n');
}

/** Whether the results hold runs of the echo group (the ceiling, the findings) or of a group with aims. */
const hasEchoGroup = (results: BenchResults): boolean => groupsOf(results).includes('echo');
const hasAims = (results: BenchResults): boolean => groupsOf(results).some((group) => group !== 'scale-out');

/** The ceiling and the aims, for the end of a run; '' for a run of groups that have neither. */
export function renderSummary(results: BenchResults): string {
  return [
    ...(hasEchoGroup(results) ? [renderCeiling(results)] : []),
    ...(hasAims(results) ? [renderAimsTable(results)] : []),
  ].join('\n\n');
}

const gibibytes = (bytes: number): string => fixed(bytes / 2 ** 30, 1);

function renderRun(results: BenchResults, resultsLink: string): string {
  const { machine, runtime, settings } = results;
  const hasPools = groupsOf(results).includes('pools') && settings.poolsWarmupSeconds !== undefined;
  const longerWarmups = [
    ...(settings.firstWarmupSeconds > settings.warmupSeconds && !(hasPools && groupsOf(results).length === 1)
      ? [
          `${settings.firstWarmupSeconds} s before the first scenario of a server that starts threads or processes as connections come`,
        ]
      : []),
    ...(hasPools && (settings.poolsWarmupSeconds ?? 0) > settings.warmupSeconds
      ? [`${settings.poolsWarmupSeconds} s before the first scenario of every server of the pools group`]
      : []),
  ];
  const firstWarmup = longerWarmups.length === 0 ? '' : ` (${longerWarmups.join('; ')})`;
  const failures =
    results.failures.length === 0 ? 'none' : `**${results.failures.length} run(s) FAILED** (listed below)`;
  return [
    '## The run',
    '',
    `- Command: \`${results.command}\`, ${results.startedAt} to ${results.finishedAt} (${results.wallSeconds} s). Results: [${resultsLink.replace(/^(\.\.\/)+/, '')}](${resultsLink}).`,
    `- Machine: ${machine.hostname}, ${machine.cpuCount} × ${machine.cpuModel}, ${gibibytes(machine.totalMemoryBytes)} GiB, ${machine.platform}. ` +
      `Load average (1, 5, 15 min): ${machine.loadAverageStart.join(', ')} at the start, ${machine.loadAverageEnd.join(', ')} at the end.`,
    `- Node.js ${runtime.node}, ${runtime.python}, ${runtime.cCompiler}${runtime.tls === undefined ? '' : `; TLS: ${runtime.tls}`}.`,
    `- ${settings.rounds} round(s), interleaved: every server once per round, the order rotated each round. ` +
      `Warm-up ${settings.warmupSeconds} s${firstWarmup}, then a ${settings.durationSeconds} s measured window; ` +
      `echoes still outstanding ${settings.drainSeconds} s after it count as missing. Tables show medians, with min–max over the rounds.`,
    `- Load generator: ${results.loadGenerator?.description ?? `Node.js, its own process, ${settings.loadWorkers} worker thread(s)`}` +
      `${results.loadGenerator?.fallbackReason === undefined ? '' : ` (the native one could not be used: ${results.loadGenerator.fallbackReason})`}, over 127.0.0.1. Every echoed byte is compared ` +
      `with what was sent: ${fixed(results.verifiedBytes / 1e6, 0)} MB verified; failed runs: ${failures}.`,
    `- fd limit ${settings.fdLimit} for the servers and the load generator (started through \`sh -c 'ulimit -n 20000 || ulimit -n "$(ulimit -Hn)"; exec "$@"' sh command args\`); ` +
      (groupsOf(results).includes('idle')
        ? `idle connections: ${integer(settings.idleConnections)}` +
          (settings.idleConnections < settings.idleConnectionsWanted
            ? ` (fewer than ${integer(settings.idleConnectionsWanted)}: the fd limit)`
            : '')
        : 'no idle group in this run') +
      '.',
  ].join('\n');
}

/** How to read the tables; the server CPU columns explained when the results have them. */
const renderHowToRead = (results: BenchResults): string =>
  [
    ...howToRead,
    ...(results.cells.some((cell) => cell.scenario.startsWith('pools-')) ? [poolsText] : []),
    ...(results.scenarios.some(({ id }) => scenarioById(id).isServerCpuSampled) ? [serverCpuText] : []),
  ].join('\n');

/** How the pools tables divide, and their warm-up. */
const poolsText =
  '- Pools tables: "vs async" divides every row (Python\'s pool too) by the group\'s one-process async row, and so do their charts; "vs Python pool" by the recipe\'s Python pool of 16 threads. ' +
  'Every server of the group, pool or not, gets the same long warm-up before its first scenario (connection rate): a pool of N threads is N V8 isolates, each compiling its own code and seeing 1/N of the connections.';

const howToRead = [
  '## How to read it',
  '',
  '- Every ratio divides medians measured in this run, on this machine: compare ratios, not absolute numbers across runs or machines. ' +
    'With 2 cores shared by the servers and the load generator, differences under about 15% are noise.',
  '- "vs baseline": a raw-handler row divided by node:net raw (`socket.pipe(socket)`), a stream- or line-handler (or Python, or the per-line echo) row by the batched node:net line echo (one `write()` per chunk); ' +
    'idle divides by node:net raw, CPU-bound by cpu-echo async. "vs async": the same handler on the async strategy. ' +
    '"vs Python": the recipe\'s ThreadingTCPServer. For latencies and memory, lower is better, so a ratio above 1 is worse.',
  '- The charts show the "vs baseline" ratio, one bar per server, with the baseline at 1.',
];

export interface DocumentInput {
  readonly results: BenchResults;
  /** The results file, relative to the document. */
  readonly resultsLink: string;
  /** Chart of each scenario, relative to the document. */
  readonly charts: ReadonlyMap<ScenarioId, string>;
  /** bench/findings.md, included verbatim (after a run of the echo group). */
  readonly findings: string;
  /** Where the document says it came from. */
  readonly regenerateCommand: string;
  /** bench/README.md and docs/scale-out.md, relative to the document. */
  readonly links: { readonly readme: string; readonly scaleOut: string };
}

export function renderDocument({
  results,
  resultsLink,
  charts,
  findings,
  regenerateCommand,
  links,
}: DocumentInput): string {
  const scenarioSections = results.scenarios
    .map(({ id }) => renderScenario(results, id, charts.get(id)))
    .filter((section) => section !== '');
  const problems = [
    ...results.failures.map((failure) => `- FAILED: ${failure}`),
    ...results.notes.map((note) => `- ${note}`),
  ];
  const groups = groupsOf(results);
  const only = groups.length === 1 ? groups[0] : undefined;
  return [
    only === 'scale-out'
      ? '# Benchmarks: scale-out on one host'
      : only === 'pools'
        ? '# Benchmarks: worker pools'
        : '# Benchmarks',
    '',
    `<!-- Generated by \`${regenerateCommand}\`: edit bench/findings.md or bench/src/report/, not this file. -->`,
    '',
    (only === 'scale-out'
      ? 'N echo processes sharing one port (SO_REUSEPORT) against a pool of N processes, a pool of N threads, one async process and raw node:net, all measured in the same run'
      : only === 'pools'
        ? "Worker pools (`--strategy pool`): the recipe's pool of 16 threads and pools of 2 threads or processes serving 64 connections each, " +
          'with the main thread accepting (`--accept main`) and with the workers accepting (`--accept workers`), ' +
          "against one async process and the recipe's Python pool of 16 threads, all measured in the same run"
        : "socketserver for TypeScript against raw node:net, a plain node:net line echo and the recipe's Python servers, all measured in the same run") +
      `; how to run it and what each scenario does: [bench/README.md](${links.readme}). ` +
      `Using several cores on one host (N processes on one port with \`--reuse-port\`, or a pool), and when each wins: [docs/scale-out.md](${links.scaleOut}).`,
    '',
    renderRun(results, resultsLink),
    '',
    ...(hasEchoGroup(results) ? [renderCeiling(results), ''] : []),
    ...(hasAims(results) ? [renderAimsTable(results), ''] : []),
    renderHowToRead(results),
    '',
    ...scenarioSections.flatMap((section) => [section, '']),
    ...(problems.length === 0 ? [] : ['## Failures and notes', '', ...problems, '']),
    ...(hasEchoGroup(results) ? [findings.trim(), ''] : []),
  ].join('\n');
}
