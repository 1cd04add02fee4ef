// The aims: ratios against baselines measured in the same run, PASS or FAIL. Never asserted in
// CI; printed at the end of a run and written into docs/benchmarks.md.
// An aim computed from a load-generator-bound cell (see ceiling.ts) is "not claimed".
import { loadGeneratorBound } from './ceiling.ts';
import { medianOf, type AimRecord, type BenchResults } from './results.ts';
import type { ScenarioId } from './scenarios.ts';
import { echoHandlers, lineEchoBaselineId, pythonThreadingId, strategies } from './servers.ts';

interface AimDefinition {
  readonly id: string;
  readonly description: string;
  readonly scenario: ScenarioId;
  readonly server: string;
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
    server: string,
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
  ];
}

export function evaluateAims(results: BenchResults): AimRecord[] {
  return definitions(results).map(
    ({ id, description, scenario, server, reference, metric, comparison, threshold, isReportedOnly }) => {
      const value = medianOf(results, scenario, server, metric);
      const base = medianOf(results, scenario, reference, metric);
      if (value === undefined || base === undefined || base === 0) {
        const missing = value === undefined ? server : reference;
        return { id, description, threshold, comparison, status: 'n/a', note: `no result for ${missing}` };
      }
      const ratio = value / base;
      if (isReportedOnly === true) {
        return { id, description, threshold, comparison, ratio, status: 'reported' };
      }
      const bound = [server, reference].filter(
        (candidate) => loadGeneratorBound(results, scenario, candidate) !== undefined,
      );
      if (bound.length > 0) {
        const names = bound.map(
          (candidate) => results.servers.find((record) => record.id === candidate)?.name ?? candidate,
        );
        return {
          id,
          description,
          threshold,
          comparison,
          ratio,
          status: 'not claimed',
          note: `load-generator-bound: ${names.join(', ')}`,
        };
      }
      const isMet = comparison === 'atLeast' ? ratio >= threshold : ratio <= threshold;
      return { id, description, threshold, comparison, ratio, status: isMet ? 'PASS' : 'FAIL' };
    },
  );
}
