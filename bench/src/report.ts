// The report: medians over rounds, ratios, Markdown tables, and the aims.
import type { ConnectionsResult, ThroughputResult } from './load-generator.ts';
import type { Scenario, ServerSpec } from './suites.ts';

export type LoadResult = ConnectionsResult | ThroughputResult;

/** One server's results under one scenario, over the rounds. */
export interface Row {
  readonly spec: ServerSpec;
  readonly results: LoadResult[];
  /** By kind: in how many runs, and the first detail seen. */
  readonly remarks: Map<string, { runs: number; detail: string }>;
  unavailable?: string;
}

export const rate = (result: LoadResult): number =>
  result.mode === 'connections' ? result.connectionsPerSecond : result.linesPerSecond;

function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

/** The row's median rate; undefined when it has no result. */
function medianRate(row: Row | undefined): number | undefined {
  return row === undefined || row.results.length === 0 ? undefined : median(row.results.map(rate));
}

/** `1.23x`; `—` where there is nothing to compare with, `n/a` where a side has no result. */
function ratio(row: Row, reference: Row | undefined): string {
  if (reference === undefined) return '—';
  const value = medianRate(row);
  const base = medianRate(reference);
  return value === undefined || base === undefined || base === 0 ? 'n/a' : `${(value / base).toFixed(2)}x`;
}

function formatErrors(results: readonly LoadResult[]): string {
  const byCode = new Map<string, number>();
  for (const { errors } of results) {
    for (const [code, count] of Object.entries(errors.byCode)) {
      byCode.set(code, (byCode.get(code) ?? 0) + count);
    }
  }
  const total = [...byCode.values()].reduce((sum, count) => sum + count, 0);
  return total === 0
    ? '0'
    : `${total} (${[...byCode].map(([code, count]) => `${code} ${count}`).join(', ')})`;
}

export const integer = (value: number): string => Math.round(value).toLocaleString('en-US');

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(3, title.length, ...rows.map((cells) => (cells[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    `| ${widths.map((width, column) => (cells[column] ?? '').padEnd(width)).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

const maxRounds = (rows: readonly Row[]): number => Math.max(...rows.map((row) => row.results.length));
const unansweredOf = (row: Row): string => row.results.map((result) => result.unanswered).join(', ');

export function renderScenario(scenario: Scenario, rows: readonly Row[]): string {
  const byName = new Map(rows.map((row) => [row.spec.name, row]));
  const isConnections = scenario.loadArgs.includes('connections');
  const header = [
    'server',
    ...(isConnections ? ['connections/s', 'p50 ms', 'p99 ms'] : ['lines/s', 'MB/s']),
    'errors',
    'vs async',
    'vs node:net',
    'vs Python recipe',
  ];
  const cells = rows.map((row) => {
    const { results, spec } = row;
    if (results.length === 0) {
      return [spec.name, row.unavailable === undefined ? 'failed' : 'n/a (not available)'];
    }
    const medianOf = (value: (result: LoadResult) => number): number => median(results.map(value));
    const latency = (result: LoadResult): ConnectionsResult['latencyMs'] =>
      (result as ConnectionsResult).latencyMs;
    const measured = isConnections
      ? [
          integer(medianOf(rate)),
          medianOf((result) => latency(result).p50).toFixed(2),
          medianOf((result) => latency(result).p99).toFixed(2),
        ]
      : [
          integer(medianOf(rate)),
          medianOf((result) => (result as ThroughputResult).megabytesPerSecond).toFixed(2),
        ];
    return [
      spec.name,
      ...measured,
      formatErrors(results),
      ratio(row, byName.get(scenario.asyncName)),
      ratio(row, byName.get(scenario.rawName)),
      ratio(row, spec.pythonPeer === undefined ? undefined : byName.get(spec.pythonPeer)),
    ];
  });
  const notes = rows.flatMap((row) => [
    ...(row.unavailable === undefined ? [] : [`${row.spec.name}: n/a, ${row.unavailable}`]),
    ...[...row.remarks].map(
      ([kind, { runs, detail }]) =>
        `${row.spec.name}: ${kind} in ${runs} run(s)${detail && `, first: ${detail}`}`,
    ),
    ...(row.results.length > 0 && row.results.length < maxRounds(rows)
      ? [`${row.spec.name}: median of ${row.results.length} run(s) only`]
      : []),
    ...(row.results.length > 0 && medianRate(row) === 0
      ? [`${row.spec.name}: nothing completed while measuring; ${unansweredOf(row)} unanswered at the end`]
      : []),
  ]);
  return [
    `## ${scenario.title}`,
    '',
    scenario.description,
    '',
    markdownTable(header, cells),
    ...(notes.length === 0 ? [] : ['', ...notes.map((note) => `- ${note}`)]),
  ].join('\n');
}

/** `PASS (1.85x)` when `name` reaches `threshold` times `baseName`'s rate, `FAIL (…)`, or `n/a (why)`. */
export function aim(rows: readonly Row[], name: string, baseName: string, threshold: number): string {
  const row = rows.find((candidate) => candidate.spec.name === name);
  const value = medianRate(row);
  const base = medianRate(rows.find((candidate) => candidate.spec.name === baseName));
  if (value === undefined || base === undefined || base === 0) {
    return `n/a (${row?.unavailable === undefined ? 'no result' : `${name} is not available`})`;
  }
  return `${value / base >= threshold ? 'PASS' : 'FAIL'} (${(value / base).toFixed(2)}x)`;
}
