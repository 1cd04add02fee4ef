// The scenarios: what the load generator does, and what each run's numbers are called.
import os from 'node:os';
import type { LoadRequest } from './load/protocol.ts';

export const scenarioIds = [
  'throughput',
  'pingpong-1',
  'pingpong-50',
  'connect',
  'large',
  'idle',
  'cpu',
  'scale-connect',
  'scale-pingpong-n',
  'scale-pingpong-32',
  'scale-bulk-n',
  'pools-connect',
  'pools-large',
] as const;
export type ScenarioId = (typeof scenarioIds)[number];

/**
 * What a run counts, which names its metrics: lines (pipelined), round trips (one line at a time,
 * each timed), connections (connect, one line, close), transfers (1 MiB each), idle (memory).
 */
export type Measure = 'lines' | 'roundTrips' | 'connections' | 'transfers' | 'idle';

/**
 * N of the scale-out group: the echo processes sharing a port with SO_REUSEPORT, and the workers
 * of the pools it compares them with. The machine's cores, at least 2.
 */
export const scaleOutInstances = Math.max(2, os.availableParallelism());

/** How long runs take; see options.ts. */
export interface Timing {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly drainMs: number;
}

export interface Scenario {
  readonly id: ScenarioId;
  readonly title: string;
  readonly description: string;
  readonly measures: Measure;
  /** The metric the ratios and the chart use, and whether more of it is better. */
  readonly primaryMetric: string;
  readonly isHigherBetter: boolean;
  /**
   * The server's CPU time in the measured window is sampled (from /proc), per process: CPU per
   * operation, and how the work was spread over the processes of a multi-process server.
   */
  readonly isServerCpuSampled: boolean;
  /** The request for a run against `port`. */
  readonly request: (port: number, timing: Timing, idleConnections: number) => LoadRequest;
}

const mebibyte = 1024 * 1024;

/** The connection rate's load (and the pools group's): 16 loops of connect, one 64-byte line, close. */
const connectRequest: Scenario['request'] = (port, timing) => ({
  kind: 'connect',
  port,
  ...timing,
  loops: 16,
  lineBytes: 64,
});

/** The large transfers' load (and the pools group's): 20 loops of connect, 1 MiB as 1 KiB lines, close. */
const largeRequest: Scenario['request'] = (port, timing) => ({
  kind: 'large',
  port,
  ...timing,
  connections: 20,
  transferBytes: mebibyte,
  lineBytes: 1024,
});

export const scenarios: readonly Scenario[] = [
  {
    id: 'throughput',
    measures: 'lines',
    isServerCpuSampled: false,
    title: 'Stream throughput',
    description:
      '50 connections, each pipelining 64-byte lines with 4 KiB in flight (64 lines outstanding); ' +
      'lines echoed per second and MB/s (echoed bytes, 10^6 per MB).',
    primaryMetric: 'linesPerSecond',
    isHigherBetter: true,
    request: (port, timing) => ({
      kind: 'stream',
      port,
      ...timing,
      connections: 50,
      window: 64,
      lineBytes: 64,
      recordLatency: false,
    }),
  },
  {
    id: 'pingpong-1',
    measures: 'roundTrips',
    isServerCpuSampled: false,
    title: 'Ping-pong latency, 1 connection',
    description:
      'One connection: send one 64-byte line, wait for its echo, repeat. Round-trip latency and round trips per second.',
    primaryMetric: 'p99Us',
    isHigherBetter: false,
    request: (port, timing) => ({
      kind: 'stream',
      port,
      ...timing,
      connections: 1,
      window: 1,
      lineBytes: 64,
      recordLatency: true,
    }),
  },
  {
    id: 'pingpong-50',
    measures: 'roundTrips',
    isServerCpuSampled: false,
    title: 'Ping-pong latency, 50 connections',
    description:
      '50 connections at once, each: send one 64-byte line, wait for its echo, repeat. Round-trip latency and round trips per second (all connections).',
    primaryMetric: 'p99Us',
    isHigherBetter: false,
    request: (port, timing) => ({
      kind: 'stream',
      port,
      ...timing,
      connections: 50,
      window: 1,
      lineBytes: 64,
      recordLatency: true,
    }),
  },
  {
    id: 'connect',
    measures: 'connections',
    isServerCpuSampled: false,
    title: 'Connection rate',
    description:
      '16 loops, each: connect, send one 64-byte line, read its echo, close (and wait for the server to close). Connections per second and the latency of the whole cycle.',
    primaryMetric: 'connectionsPerSecond',
    isHigherBetter: true,
    request: connectRequest,
  },
  {
    id: 'large',
    measures: 'transfers',
    isServerCpuSampled: false,
    title: 'Large transfers',
    description:
      '20 loops, each: connect, send 1 MiB as 1 KiB lines, read the whole 1 MiB back (checked), close. Echoed MB/s and the time per transfer.',
    primaryMetric: 'megabytesPerSecond',
    isHigherBetter: true,
    request: largeRequest,
  },
  {
    id: 'idle',
    measures: 'idle',
    isServerCpuSampled: false,
    title: 'Idle connections',
    description:
      "10,000 connections held open, each after echoing one short line. The server's RSS per connection: " +
      '(RSS with all of them open − RSS before, after one warm-up connection) / connections, from /proc/PID/status VmRSS summed over its process tree.',
    primaryMetric: 'rssPerConnectionBytes',
    isHigherBetter: false,
    request: (port, timing, idleConnections) => ({
      kind: 'idle',
      port,
      connections: idleConnections,
      concurrentConnects: 250,
      timeoutMs: Math.max(60_000, timing.drainMs),
    }),
  },
  {
    id: 'cpu',
    measures: 'lines',
    isServerCpuSampled: false,
    title: 'CPU-bound handler',
    description:
      'Each line hashed 1,000 times (sha256, chained) before it is echoed. 16 connections, 4 lines of 64 bytes outstanding each; lines per second.',
    primaryMetric: 'linesPerSecond',
    isHigherBetter: true,
    request: (port, timing) => ({
      kind: 'stream',
      port,
      ...timing,
      connections: 16,
      window: 4,
      lineBytes: 64,
      recordLatency: false,
    }),
  },
  {
    id: 'scale-connect',
    measures: 'connections',
    isServerCpuSampled: true,
    title: 'Scale-out: connection rate',
    description:
      'Short-lived connections: 16 loops, each: connect, send one 64-byte line, read its echo, close (and wait for the server to close). ' +
      'Connections per second, the latency of the whole cycle, and the server CPU each connection cost.',
    primaryMetric: 'connectionsPerSecond',
    isHigherBetter: true,
    request: (port, timing) => ({ kind: 'connect', port, ...timing, loops: 16, lineBytes: 64 }),
  },
  scaleOutPingpong('scale-pingpong-n', scaleOutInstances, ' (one per process or worker)'),
  scaleOutPingpong('scale-pingpong-32', 32, ''),
  {
    id: 'scale-bulk-n',
    measures: 'lines',
    isServerCpuSampled: true,
    title: `Scale-out: bulk, ${scaleOutInstances} long-lived connections`,
    description:
      `${scaleOutInstances} connections (one per process or worker), opened once, each pipelining 1 KiB lines with 64 KiB in flight (64 lines outstanding). ` +
      'Echoed MB/s (10^6), and the server CPU each line cost.',
    primaryMetric: 'megabytesPerSecond',
    isHigherBetter: true,
    request: (port, timing) => ({
      kind: 'stream',
      port,
      ...timing,
      connections: scaleOutInstances,
      window: 64,
      lineBytes: 1024,
      recordLatency: false,
    }),
  },
  {
    id: 'pools-connect',
    measures: 'connections',
    isServerCpuSampled: true,
    title: 'Pools: connection rate',
    description:
      'As the connection rate: 16 loops, each: connect, send one 64-byte line, read its echo, close (and wait for the server to close). ' +
      'Connections per second, the latency of the whole cycle, and the server CPU each connection cost.',
    primaryMetric: 'connectionsPerSecond',
    isHigherBetter: true,
    request: connectRequest,
  },
  {
    id: 'pools-large',
    measures: 'transfers',
    isServerCpuSampled: true,
    title: 'Pools: large transfers',
    description:
      'As the large transfers: 20 loops, each: connect, send 1 MiB as 1 KiB lines, read the whole 1 MiB back (checked), close. ' +
      'Echoed MB/s, the time per transfer, and the server CPU each transfer cost.',
    primaryMetric: 'megabytesPerSecond',
    isHigherBetter: true,
    request: largeRequest,
  },
];

export function scenarioById(id: ScenarioId): Scenario {
  const scenario = scenarios.find((candidate) => candidate.id === id);
  if (scenario === undefined) throw new Error(`no scenario ${id}`);
  return scenario;
}

/** A scale-out request/response scenario: `connections` opened once, one 64-byte line at a time on each. */
function scaleOutPingpong(id: ScenarioId, connections: number, which: string): Scenario {
  return {
    id,
    measures: 'roundTrips',
    isServerCpuSampled: true,
    title: `Scale-out: request/response, ${connections} long-lived connections`,
    description:
      `${connections} connections${which}, opened once, each: send one 64-byte line, wait for its echo, repeat. ` +
      'Round trips per second (all connections), their latency, and the server CPU each round trip cost.',
    primaryMetric: 'roundTripsPerSecond',
    isHigherBetter: true,
    request: (port, timing) => ({
      kind: 'stream',
      port,
      ...timing,
      connections,
      window: 1,
      lineBytes: 64,
      recordLatency: true,
    }),
  };
}
