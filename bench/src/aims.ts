// The aims: ratios against baselines measured in the same run, PASS or FAIL. Never asserted in
// CI; printed at the end of a run and written into docs/benchmarks.md.
// An aim computed from a load-generator-bound cell (see ceiling.ts) is "not claimed".
import { loadGeneratorBound } from './ceiling.ts';
import { medianOf, type AimRecord, type BenchResults } from './results.ts';
import type { ScenarioId } from './scenarios.ts';
import {
  echoHandlers,
  lineEchoBaselineId,
  poolsAsyncId,
  poolsRowId,
  pythonPoolId,
  pythonThreadingId,
  strategies,
} from './servers.ts';

interface AimDefinition {
  readonly id: string;
  readonly description: string;
  readonly scenario: ScenarioId;
  /** The server, or several: then it is judged on the best of them (the note says which). */
  readonly server: string | readonly string[];
  readonly reference: string;
  readonly metric: string;
  readonly comparison: 'atLeast' | 'atMost';
  readonly threshold: number;
  /** A ratio worth showing next to the aims, not an aim (no PASS or FAIL). */
  readonly isReportedOnly?: boolean;
}

function definitions(results: BenchResults): AimDefinition[] {
  const atLeast = (
    id: string,
    description: string,
    scenario: ScenarioId,
    server: string | readonly string[],
    reference: string,
    metric: string,
    threshold: number,
  ): AimDefinition => ({
    id,
    description,
    scenario,
    server,
    reference,
    metric,
    comparison: 'atLeast',
    threshold,
  });
  const pingPong = (connections: 1 | 50): AimDefinition[] => {
    const which = connections === 1 ? '1 connection' : '50 connections';
    return [
      atLeast(
        `raw-async-pingpong-${connections}-rate`,
        `echo raw async: ping-pong round trips/s, ${which}, ≥ 0.95x raw node:net`,
        `pingpong-${connections}`,
        'echo-raw-async',
        'raw-net',
        'roundTripsPerSecond',
        0.95,
      ),
      {
        id: `raw-async-pingpong-${connections}-p99`,
        description: `echo raw async: ping-pong p99, ${which}, ≤ 1.2x raw node:net`,
        scenario: `pingpong-${connections}`,
        server: 'echo-raw-async',
        reference: 'raw-net',
        metric: 'p99Us',
        comparison: 'atMost',
        threshold: 1.2,
      },
    ];
  };
  const idle = (handler: 'raw' | 'stream'): AimDefinition => ({
    id: `${handler}-async-idle-rss`,
    description: `echo ${handler} async: RSS per idle connection ≤ 1.25x raw node:net`,
    scenario: 'idle',
    server: `echo-${handler}-async`,
    reference: 'raw-net',
    metric: 'rssPerConnectionBytes',
    comparison: 'atMost',
    threshold: 1.25,
  });
  const hasServer = (id: string): boolean => results.servers.some((server) => server.id === id);
  // The pools group: every ratio from its own rows, measured after the same long warm-up.
  const poolAims = (kind: 'thread' | 'process'): AimDefinition[] => {
    const plural = kind === 'thread' ? 'threads' : 'processes';
    return [
      atLeast(
        `pools-2x64-${kind}-connect`,
        `pool of 2 ${plural} × 64 (--requests-per-worker 64), --accept workers: connection rate ≥ 0.95x echo raw async`,
        'pools-connect',
        poolsRowId(2, 64, kind, 'workers'),
        poolsAsyncId,
        'connectionsPerSecond',
        0.95,
      ),
      {
        ...atLeast(
          `pools-2x64-${kind}-main-connect`,
          `pool of 2 ${plural} × 64, --accept main: connection rate ÷ echo raw async (reported, to compare with --accept workers)`,
          'pools-connect',
          poolsRowId(2, 64, kind, 'main'),
          poolsAsyncId,
          'connectionsPerSecond',
          0.95,
        ),
        isReportedOnly: true,
      },
      atLeast(
        `pools-2x64-${kind}-large`,
        `pool of 2 ${plural} × 64, --accept workers: large transfers, MB/s ≥ 1.5x echo raw async`,
        'pools-large',
        poolsRowId(2, 64, kind, 'workers'),
        poolsAsyncId,
        'megabytesPerSecond',
        1.5,
      ),
    ];
  };
  return [
    atLeast(
      'raw-async-throughput',
      'echo raw async: stream throughput ≥ 0.95x raw node:net',
      'throughput',
      'echo-raw-async',
      'raw-net',
      'linesPerSecond',
      0.95,
    ),
    ...pingPong(1),
    ...pingPong(50),
    atLeast(
      'raw-async-connect',
      'echo raw async: connection rate ≥ 0.9x raw node:net',
      'connect',
      'echo-raw-async',
      'raw-net',
      'connectionsPerSecond',
      0.9,
    ),
    atLeast(
      'stream-async-throughput',
      'echo stream async: stream throughput ≥ 0.6x the batched node:net line echo',
      'throughput',
      'echo-stream-async',
      lineEchoBaselineId,
      'linesPerSecond',
      0.6,
    ),
    atLeast(
      'line-async-throughput',
      'echo line async: stream throughput ≥ 0.9x the batched node:net line echo',
      'throughput',
      'echo-line-async',
      lineEchoBaselineId,
      'linesPerSecond',
      0.9,
    ),
    {
      ...atLeast(
        'line-async-throughput-vs-pipe',
        'echo line async: stream throughput ÷ raw node:net (reported, not an aim; stretch 0.6x)',
        'throughput',
        'echo-line-async',
        'raw-net',
        'linesPerSecond',
        0.6,
      ),
      isReportedOnly: true,
    },
    idle('raw'),
    idle('stream'),
    atLeast(
      'cpu-pool-threads',
      'CPU-bound: pool of 16 threads ≥ 1.8x async',
      'cpu',
      'cpu-pool-thread',
      'cpu-async',
      'linesPerSecond',
      1.8,
    ),
    atLeast(
      'thread-connect',
      'echo stream thread: connection rate ≥ 0.5x echo stream async',
      'connect',
      'echo-stream-thread',
      'echo-stream-async',
      'connectionsPerSecond',
      0.5,
    ),
    atLeast(
      'thread-throughput',
      'echo stream thread: stream throughput ≥ 0.5x echo stream async',
      'throughput',
      'echo-stream-thread',
      'echo-stream-async',
      'linesPerSecond',
      0.5,
    ),
    atLeast(
      'raw-thread-connect',
      'echo raw thread: connection rate ≥ 0.5x echo raw async',
      'connect',
      'echo-raw-thread',
      'echo-raw-async',
      'connectionsPerSecond',
      0.5,
    ),
    atLeast(
      'raw-thread-throughput',
      'echo raw thread: stream throughput ≥ 0.5x echo raw async',
      'throughput',
      'echo-raw-thread',
      'echo-raw-async',
      'linesPerSecond',
      0.5,
    ),
    ...strategies.flatMap((strategy) =>
      echoHandlers
        .filter((handler) => handler !== 'line' || hasServer(`echo-line-${strategy}`))
        .map((handler) =>
          atLeast(
            `${handler}-${strategy}-vs-python`,
            `echo ${handler} ${strategy}: stream throughput ≥ 10x Python ThreadingTCPServer`,
            'throughput',
            `echo-${handler}-${strategy}`,
            pythonThreadingId,
            'linesPerSecond',
            10,
          ),
        ),
    ),
    atLeast(
      'pools-16-threads-vs-python-connect',
      "the recipe's pool of 16 threads (--workers 16 --requests-per-worker 1), the better of --accept main and workers: " +
        'connection rate ≥ 1.5x Python pool (16 threads)',
      'pools-connect',
      [poolsRowId(16, 1, 'thread', 'main'), poolsRowId(16, 1, 'thread', 'workers')],
      pythonPoolId,
      'connectionsPerSecond',
      1.5,
    ),
    ...poolAims('thread'),
    ...poolAims('process'),
  ];
}

/**
 * Each aim PASS, FAIL, not claimed, reported or n/a; only the aims of scenarios the run had (a run
 * of some groups, `--group`, has cells for its groups' scenarios only).
 */
export function evaluateAims(results: BenchResults): AimRecord[] {
  const ran = new Set(results.cells.map((cell) => cell.scenario));
  const nameOf = (id: string): string => results.servers.find((record) => record.id === id)?.name ?? id;
  return definitions(results)
    .filter((definition) => ran.has(definition.scenario))
    .map(
      ({ id, description, scenario, server, reference, metric, comparison, threshold, isReportedOnly }) => {
        const candidates = typeof server === 'string' ? [server] : server;
        // Several servers: judged on the one with the best median (the highest, or the lowest for atMost).
        const measured = candidates.flatMap((candidate) => {
          const value = medianOf(results, scenario, candidate, metric);
          return value === undefined ? [] : [{ id: candidate, value }];
        });
        const best = measured.reduce<{ id: string; value: number } | undefined>(
          (chosen, next) =>
            chosen === undefined ||
            (comparison === 'atLeast' ? next.value > chosen.value : next.value < chosen.value)
              ? next
              : chosen,
          undefined,
        );
        const base = medianOf(results, scenario, reference, metric);
        if (best === undefined || base === undefined || base === 0) {
          const missing = best === undefined ? candidates.join(', ') : reference;
          return { id, description, threshold, comparison, status: 'n/a', note: `no result for ${missing}` };
        }
        const ratio = best.value / base;
        const judgedOn =
          candidates.length === 1
            ? []
            : [
                `judged on ${nameOf(best.id)}` +
                  measured
                    .filter((other) => other.id !== best.id)
                    .map((other) => `; ${nameOf(other.id)}: ${(other.value / base).toFixed(2)}x`)
                    .join(''),
              ];
        const withNote = (notes: readonly string[]): { note?: string } =>
          notes.length === 0 ? {} : { note: notes.join('; ') };
        if (isReportedOnly === true) {
          return { id, description, threshold, comparison, ratio, status: 'reported', ...withNote(judgedOn) };
        }
        const bound = [best.id, reference].filter(
          (candidate) => loadGeneratorBound(results, scenario, candidate) !== undefined,
        );
        if (bound.length > 0) {
          return {
            id,
            description,
            threshold,
            comparison,
            ratio,
            status: 'not claimed',
            ...withNote([`load-generator-bound: ${bound.map(nameOf).join(', ')}`, ...judgedOn]),
          };
        }
        const isMet = comparison === 'atLeast' ? ratio >= threshold : ratio <= threshold;
        return {
          id,
          description,
          threshold,
          comparison,
          ratio,
          status: isMet ? 'PASS' : 'FAIL',
          ...withNote(judgedOn),
        };
      },
    );
}
