// The results file (bench/results/<date>-<host>.json): every run's raw numbers, the summaries,
// the aims, and what the run was (machine, versions, command). The report reads only this.
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import type { LoadTally } from './load/protocol.ts';
import type { MachineInfo } from './machine.ts';
import type { RunOptions } from './options.ts';
import { scenarioById, type ScenarioId } from './scenarios.ts';
import { groupIds, type GroupId, type ServerKind } from './servers.ts';
import { summarize, type Summary } from './stats.ts';

export const resultsSchemaVersion = 1;

export interface RunRecord {
  readonly round: number;
  readonly status: 'ok' | 'failed';
  /** What went wrong: a crash, a timeout, or the verification failures. */
  readonly failure?: string;
  /** The metrics of this run (see `metricsOf`); empty when it failed. */
  readonly metrics: Readonly<Record<string, number>>;
  /** What the load generator counted (the latencies as an encoded HDR histogram), and the RSS samples for idle. */
  readonly raw: Readonly<Record<string, number | string>>;
}

export interface CellRecord {
  readonly scenario: ScenarioId;
  readonly server: string;
  readonly status: 'measured' | 'skipped' | 'failed';
  /** Why it was skipped. */
  readonly reason?: string;
  readonly runs: RunRecord[];
  /** Each metric over the successful runs. */
  summary: Record<string, Summary>;
}

export interface ServerRecord {
  readonly id: string;
  readonly name: string;
  readonly kind: ServerKind;
  readonly group: GroupId;
  readonly handler?: string;
  readonly strategy?: string;
  readonly commandLine: string;
  /** Processes started with this command line, sharing one port (SO_REUSEPORT); absent: one. */
  readonly instances?: number;
  readonly baselineId?: string;
  readonly asyncId?: string;
  readonly pythonId?: string;
  readonly unavailable?: string;
}

export interface AimRecord {
  readonly id: string;
  readonly description: string;
  readonly threshold: number;
  readonly comparison: 'atLeast' | 'atMost';
  readonly ratio?: number;
  /**
   * 'not claimed': a cell it is computed from is load-generator-bound (see ceiling.ts);
   * 'reported': a ratio shown next to the aims, not an aim.
   */
  readonly status: 'PASS' | 'FAIL' | 'n/a' | 'not claimed' | 'reported';
  readonly note?: string;
}

/** Which load generator ran the scenarios. Absent from results written before there was a choice (Node.js). */
export interface LoadGeneratorRecord {
  readonly kind: 'native' | 'node';
  /** What it is and what it ran, for the report. */
  readonly description: string;
  /** Why the Node.js one ran, when the native one was wanted. */
  readonly fallbackReason?: string;
}

export interface BenchResults {
  readonly schemaVersion: number;
  readonly command: string;
  readonly startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  readonly machine: MachineInfo;
  readonly runtime: {
    readonly node: string;
    readonly python: string;
    readonly cCompiler: string;
    /** Node.js's own OpenSSL, and how the TLS rows' certificate was made; absent without TLS rows. */
    readonly tls?: string;
  };
  /**
   * The run's options (as run.ts took them), the idle connections it could open, and the fd limit.
   * `groups`: the groups run; absent from results written before groups could be chosen (all of them).
   * `poolsWarmupSeconds`: absent from results written before the pools group existed.
   */
  readonly settings: Omit<RunOptions, 'write' | 'only' | 'groups' | 'poolsWarmupSeconds'> & {
    readonly groups?: readonly GroupId[];
    readonly poolsWarmupSeconds?: number;
    readonly idleConnectionsWanted: number;
    readonly fdLimit: number;
  };
  readonly loadGenerator?: LoadGeneratorRecord;
  readonly scenarios: readonly {
    readonly id: ScenarioId;
    readonly title: string;
    readonly description: string;
  }[];
  readonly servers: readonly ServerRecord[];
  readonly cells: CellRecord[];
  aims: AimRecord[];
  /** Runs that failed (verification or crash), as `server / scenario / round: why`. */
  failures: string[];
  /** Things worth knowing that are not failures: a server slow to stop, output on stderr, a reduced limit. */
  notes: string[];
  verifiedBytes: number;
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

/** The metrics of a run of `scenario` from what the load generator counted in `durationMs`. */
export function metricsOf(
  scenario: ScenarioId,
  tally: LoadTally,
  durationMs: number,
): Record<string, number> {
  const seconds = durationMs / 1000;
  const perSecond = round3(tally.operations / seconds);
  const megabytesPerSecond = round3(tally.windowBytes / seconds / 1e6);
  const latency = (): { p50: number; p99: number; p999: number; max: number } => {
    if (tally.histogram === '')
      return { p50: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN };
    const histogram = decodeFromCompressedBase64(tally.histogram);
    const values = {
      p50: histogram.getValueAtPercentile(50),
      p99: histogram.getValueAtPercentile(99),
      p999: histogram.getValueAtPercentile(99.9),
      max: histogram.maxValue,
    };
    histogram.destroy();
    return values;
  };
  switch (scenarioById(scenario).measures) {
    case 'lines':
      return { linesPerSecond: perSecond, megabytesPerSecond };
    case 'roundTrips': {
      const { p50, p99, p999, max } = latency();
      return { roundTripsPerSecond: perSecond, p50Us: p50, p99Us: p99, p999Us: p999, maxUs: max };
    }
    case 'connections': {
      const { p50, p99 } = latency();
      return { connectionsPerSecond: perSecond, p50Ms: round3(p50 / 1000), p99Ms: round3(p99 / 1000) };
    }
    case 'transfers': {
      const { p50, p99 } = latency();
      return {
        megabytesPerSecond,
        transfers: tally.operations,
        transferP50Ms: round3(p50 / 1000),
        transferP99Ms: round3(p99 / 1000),
      };
    }
    case 'idle':
      return {};
  }
}

/** Each metric summarized over the successful runs. */
export function summarizeRuns(runs: readonly RunRecord[]): Record<string, Summary> {
  const summary: Record<string, Summary> = {};
  const ok = runs.filter((run) => run.status === 'ok');
  const names = new Set(ok.flatMap((run) => Object.keys(run.metrics)));
  for (const name of names) {
    const values = ok
      .map((run) => run.metrics[name])
      .filter((value): value is number => value !== undefined && Number.isFinite(value));
    const result = summarize(values);
    if (result !== undefined) summary[name] = result;
  }
  return summary;
}

/** The groups a results file holds runs of (every group, for results from before groups could be chosen). */
export const groupsOf = (results: BenchResults): readonly GroupId[] => results.settings.groups ?? groupIds;

/**
 * Whether the results are of a run of every group there was when they were written: results
 * from before the pools group (no `poolsWarmupSeconds` in their settings) need no pools group.
 */
export function isAllGroupsRun(results: BenchResults): boolean {
  const groups = groupsOf(results);
  const hadPools = results.settings.poolsWarmupSeconds !== undefined;
  return groupIds.every((group) => groups.includes(group) || (group === 'pools' && !hadPools));
}

export const cellOf = (results: BenchResults, scenario: ScenarioId, server: string): CellRecord | undefined =>
  results.cells.find((cell) => cell.scenario === scenario && cell.server === server);

/** The median of `metric` in a cell; undefined when it has none. */
export const medianOf = (
  results: BenchResults,
  scenario: ScenarioId,
  server: string | undefined,
  metric: string,
): number | undefined =>
  server === undefined ? undefined : cellOf(results, scenario, server)?.summary[metric]?.median;
