// The servers, which scenarios each one runs (the matrix), and why the other cells are skipped.
import { fileURLToPath } from 'node:url';
import type { ScenarioId } from './scenarios.ts';

export type ServerKind = 'ceiling' | 'baseline' | 'echo' | 'python' | 'cpu';
export type GroupId = 'echo' | 'idle' | 'cpu';

export interface ServerSpec {
  readonly id: string;
  readonly name: string;
  readonly kind: ServerKind;
  readonly handler?: 'raw' | 'stream';
  readonly strategy?: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The row the "vs baseline" column divides by. */
  readonly baselineId?: string;
  /** The row the "vs async" column divides by (strategy comparisons). */
  readonly asyncId?: string;
  /** The row the "vs Python" column divides by. */
  readonly pythonId?: string;
  /** It starts threads or processes as connections come: its first scenario gets a longer warm-up. */
  readonly startsWorkers: boolean;
  /** Why it cannot run here (no gcc, no python3); undefined when it can. */
  readonly unavailable?: string;
}

/** The servers measured together, and the scenarios each of them runs in one server process. */
export interface Group {
  readonly id: GroupId;
  readonly servers: readonly ServerSpec[];
  readonly scenarios: readonly ScenarioId[];
}

export const strategies = ['serial', 'async', 'thread', 'fork', 'pool'] as const;
export const pythonThreadingId = 'python-threading';
export const pythonThreadingCpuId = 'python-threading-cpu';

const local = (relative: string): string => fileURLToPath(new URL(relative, import.meta.url));
const echoServerBin = fileURLToPath(
  new URL('bin/echo-server.js', import.meta.resolve('@socketserver/echo/package.json')),
);

export interface Toolchain {
  readonly cEcho: { readonly path: string } | { readonly unavailable: string };
  readonly python: { readonly executable: string } | { readonly unavailable: string };
}

export function serverSpecs({ cEcho, python }: Toolchain): ServerSpec[] {
  const node = process.execPath;
  const pythonServer = (id: string, name: string, args: string[]): ServerSpec => ({
    id,
    name,
    kind: 'python',
    handler: 'stream',
    command: 'executable' in python ? python.executable : 'python3',
    args: [local('../baselines/python_echo.py'), ...args],
    baselineId: 'line-echo',
    pythonId: pythonThreadingId,
    startsWorkers: true,
    ...('unavailable' in python ? { unavailable: python.unavailable } : {}),
  });
  const echo = strategies.flatMap((strategy) =>
    (['raw', 'stream'] as const).map((handler): ServerSpec => ({
      id: `echo-${handler}-${strategy}`,
      name: `echo ${handler} ${strategy}`,
      kind: 'echo',
      handler,
      strategy,
      command: node,
      args: [echoServerBin, '--port', '0', '--quiet', '--handler', handler, '--strategy', strategy],
      baselineId: handler === 'raw' ? 'raw-net' : 'line-echo',
      asyncId: `echo-${handler}-async`,
      pythonId: pythonThreadingId,
      startsWorkers: strategy !== 'serial' && strategy !== 'async',
    })),
  );
  const cpuEcho = (id: string, label: string, args: string[]): ServerSpec => ({
    id: `cpu-${id}`,
    name: `cpu-echo ${label}`,
    kind: 'cpu',
    handler: 'stream',
    strategy: label,
    command: node,
    args: [local('../servers/cpu-echo.ts'), '--port', '0', ...args],
    asyncId: 'cpu-async',
    pythonId: pythonThreadingCpuId,
    startsWorkers: id !== 'serial' && id !== 'async',
  });
  return [
    {
      id: 'c-echo',
      name: 'C epoll echo (ceiling)',
      kind: 'ceiling',
      handler: 'raw',
      command: 'path' in cEcho ? cEcho.path : 'c-echo',
      args: [],
      baselineId: 'raw-net',
      startsWorkers: false,
      ...('unavailable' in cEcho ? { unavailable: cEcho.unavailable } : {}),
    },
    {
      id: 'raw-net',
      name: 'node:net raw (pipe)',
      kind: 'baseline',
      handler: 'raw',
      command: node,
      args: [local('../baselines/raw-net-echo.ts')],
      baselineId: 'raw-net',
      pythonId: pythonThreadingId,
      startsWorkers: false,
    },
    {
      id: 'line-echo',
      name: 'node:net line echo',
      kind: 'baseline',
      handler: 'stream',
      command: node,
      args: [local('../baselines/net-line-echo.ts')],
      baselineId: 'line-echo',
      pythonId: pythonThreadingId,
      startsWorkers: false,
    },
    // Strategy by strategy, raw then stream: A B C … in every round.
    ...echo,
    pythonServer(pythonThreadingId, 'Python ThreadingTCPServer', ['threading']),
    pythonServer('python-pool', 'Python pool (16 threads)', ['pool']),
    cpuEcho('serial', 'serial', ['--strategy', 'serial']),
    cpuEcho('async', 'async', ['--strategy', 'async']),
    cpuEcho('thread', 'thread', ['--strategy', 'thread']),
    cpuEcho('fork', 'fork', ['--strategy', 'fork']),
    cpuEcho('pool-thread', 'pool (16 threads)', ['--strategy', 'pool', '--pool-kind', 'thread']),
    cpuEcho('pool-process', 'pool (16 processes)', ['--strategy', 'pool', '--pool-kind', 'process']),
    {
      ...pythonServer(pythonThreadingCpuId, 'Python ThreadingTCPServer', ['threading', '--cpu']),
      kind: 'python',
      pythonId: pythonThreadingCpuId,
      asyncId: 'cpu-async',
    },
  ];
}

const echoScenarios: readonly ScenarioId[] = ['throughput', 'pingpong-1', 'pingpong-50', 'connect', 'large'];

/**
 * Why `server` does not run `scenario` (skipped, with this reason in the tables), or undefined
 * when it does. Chosen so the full run stays under 10 minutes, and where a cell makes no sense.
 */
export function skipReason(scenario: ScenarioId, server: ServerSpec): string | undefined {
  const isCpuServer = server.kind === 'cpu' || server.id === pythonThreadingCpuId;
  if (scenario === 'cpu') return isCpuServer ? undefined : 'not a CPU-bound server';
  if (isCpuServer) return 'CPU-bound servers run the CPU-bound scenario only';
  if (server.kind === 'ceiling') {
    return scenario === 'throughput' || scenario.startsWith('pingpong')
      ? undefined
      : 'the ceiling reference runs the throughput and ping-pong scenarios only';
  }
  const strategy = server.strategy;
  if (scenario === 'idle') {
    if (strategy === 'serial') return 'serves one connection at a time: 9,999 would wait in its accept queue';
    if (strategy === 'thread') return 'a thread per connection: 10,000 threads';
    if (strategy === 'fork') return 'a process per connection: 10,000 Node.js processes';
    if (strategy === 'pool')
      return 'serves 16 connections at a time (--workers 16): the rest would wait in its bounded queue';
    if (server.id === pythonThreadingId) return 'a thread per connection: 10,000 threads';
    if (server.kind === 'python') return 'serves 16 connections at a time (16 threads)';
    return undefined;
  }
  if (server.kind === 'python' && (scenario === 'pingpong-50' || scenario === 'large')) {
    return scenario === 'large'
      ? "the recipe's listen backlog of 5: some of 20 simultaneous 1 MiB connects are reset (ECONNRESET)"
      : "the recipe's listen backlog of 5: 50 simultaneous connects wait for SYN retransmits (1 s, 3 s, …)";
  }
  if (server.id === 'python-pool' && scenario === 'throughput') {
    return "the recipe's listen backlog of 5 and 16 serving threads: of 50 simultaneous connects, some wait for SYN retransmits past the 20 s drain";
  }
  if (scenario === 'pingpong-50') {
    if (strategy === 'serial')
      return 'serves one connection at a time: 49 of the 50 would wait for the window to end';
    if (strategy === 'pool')
      return 'serves 16 connections at a time: 34 of the 50 would wait for the window to end';
    if (strategy === 'thread' || strategy === 'fork')
      return 'time budget: its 1-connection ping-pong and throughput rows show it';
    return undefined;
  }
  return undefined;
}

export function groups(servers: readonly ServerSpec[]): Group[] {
  const isCpuServer = (server: ServerSpec): boolean =>
    server.kind === 'cpu' || server.id === pythonThreadingCpuId;
  return [
    { id: 'echo', servers: servers.filter((server) => !isCpuServer(server)), scenarios: echoScenarios },
    {
      id: 'idle',
      servers: servers.filter((server) => !isCpuServer(server) && server.kind !== 'ceiling'),
      scenarios: ['idle'],
    },
    { id: 'cpu', servers: servers.filter(isCpuServer), scenarios: ['cpu'] },
  ];
}
