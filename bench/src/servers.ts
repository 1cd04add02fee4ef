// The servers, which scenarios each one runs (the matrix), and why the other cells are skipped.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { scaleOutInstances, scenarioById, type ScenarioId } from './scenarios.ts';

export type ServerKind = 'ceiling' | 'baseline' | 'echo' | 'python' | 'cpu' | 'scale-out' | 'pools';
export const groupIds = ['echo', 'idle', 'cpu', 'scale-out', 'pools'] as const;
export type GroupId = (typeof groupIds)[number];

export interface ServerSpec {
  readonly id: string;
  readonly name: string;
  readonly kind: ServerKind;
  readonly handler?: EchoHandler;
  readonly strategy?: string;
  readonly command: string;
  /** With `instances` above 1, it holds `--port 0`: the first process's port goes to the others. */
  readonly args: readonly string[];
  /**
   * Processes to start with this command, sharing one port with SO_REUSEPORT: the first on port 0,
   * the others on the port it prints. Absent: one.
   */
  readonly instances?: number;
  /** Connections it serves at once (a pool: one per worker); absent: no limit. */
  readonly servesAtOnce?: number;
  /** Its connections are TLS (the load generator checks its certificate). */
  readonly isTls?: boolean;
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
  /**
   * Every server's first scenario gets the long warm-up (`--pools-warmup`), whether it starts
   * workers or not: a pool of N threads has N V8 isolates, each JIT-compiling on its own and seeing
   * 1/N of the connections, and every row of the group is measured after the same warm-up.
   */
  readonly hasLongFirstWarmup?: boolean;
}

export const strategies = ['serial', 'async', 'thread', 'fork', 'pool'] as const;
/** The echo app's handlers the matrix has rows for: raw, stream, and line where the app has it. */
export const echoHandlers = ['raw', 'stream', 'line'] as const;
export type EchoHandler = (typeof echoHandlers)[number];
/** The baseline of the line-oriented rows (stream, line, Python): node:net line echo, batched. */
export const lineEchoBaselineId = 'line-echo-batched';
export const pythonThreadingId = 'python-threading';
export const pythonThreadingCpuId = 'python-threading-cpu';
export const pythonPoolId = 'python-pool';
/** The pools group's one-process async row: its "vs async" reference. */
export const poolsAsyncId = 'pools-async';
/** The id of a pools group row: `--workers`, `--requests-per-worker`, `--pool-kind`, `--accept`. */
export const poolsRowId = (
  workers: number,
  requestsPerWorker: number,
  kind: 'thread' | 'process',
  accept: 'main' | 'workers',
): string => `pools-${workers}x${requestsPerWorker}-${kind}-${accept}`;

const local = (relative: string): string => fileURLToPath(new URL(relative, import.meta.url));
const echoServerBin = fileURLToPath(
  new URL('bin/echo-server.js', import.meta.resolve('@socketserver/echo/package.json')),
);

/** The handlers apps/echo accepts (`--handler`), from the choices its --help lists; raw and stream if that fails. */
export function echoHandlersAvailable(): EchoHandler[] {
  try {
    const help = execFileSync(process.execPath, [echoServerBin, '--help'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    const choices = /--handler <kind>[\s\S]*?\(choices: ([^)]*)/.exec(help)?.[1] ?? '';
    return echoHandlers.filter((handler) => handler !== 'line' || choices.includes('"line"'));
  } catch {
    return ['raw', 'stream'];
  }
}

export interface Toolchain {
  readonly cEcho: { readonly path: string } | { readonly unavailable: string };
  readonly python: { readonly executable: string } | { readonly unavailable: string };
  /** The TLS rows' certificate and key files. */
  readonly tls: { readonly certPath: string; readonly keyPath: string } | { readonly unavailable: string };
  /** The handlers apps/echo accepts: rows for these only. */
  readonly echoHandlers: readonly EchoHandler[];
}

export function serverSpecs({ cEcho, python, tls, echoHandlers: handlers }: Toolchain): ServerSpec[] {
  const node = process.execPath;
  const pythonServer = (id: string, name: string, args: string[]): ServerSpec => ({
    id,
    name,
    kind: 'python',
    handler: 'stream',
    command: 'executable' in python ? python.executable : 'python3',
    args: [local('../baselines/python_echo.py'), ...args],
    baselineId: lineEchoBaselineId,
    pythonId: pythonThreadingId,
    startsWorkers: true,
    ...('unavailable' in python ? { unavailable: python.unavailable } : {}),
  });
  const echo = strategies.flatMap((strategy) =>
    handlers.map((handler): ServerSpec => ({
      id: `echo-${handler}-${strategy}`,
      name: `echo ${handler} ${strategy}`,
      kind: 'echo',
      handler,
      strategy,
      command: node,
      args: [echoServerBin, '--port', '0', '--quiet', '--handler', handler, '--strategy', strategy],
      baselineId: handler === 'raw' ? 'raw-net' : lineEchoBaselineId,
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
  // Scale-out on one host: N processes sharing the port against the pools of N workers, raw handler,
  // on 127.0.0.1 only; the same four again over TLS. "vs async" divides by the one-process row.
  const workers = String(scaleOutInstances);
  const tlsFiles = 'unavailable' in tls ? { certPath: 'cert.pem', keyPath: 'key.pem' } : tls;
  const scaleOutSet = (isTls: boolean): ServerSpec[] => {
    const prefix = isTls ? 'scale-tls' : 'scale';
    const scaleOut = (
      id: string,
      name: string,
      args: readonly string[],
      extra: Partial<ServerSpec>,
    ): ServerSpec => ({
      id: `${prefix}-${id}`,
      name: isTls ? `${name}, TLS` : name,
      kind: 'scale-out',
      handler: 'raw',
      command: node,
      args: [
        echoServerBin,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--quiet',
        '--handler',
        'raw',
        ...args,
        ...(isTls ? ['--tls-cert', tlsFiles.certPath, '--tls-key', tlsFiles.keyPath] : []),
      ],
      baselineId: isTls ? 'raw-tls' : 'raw-net',
      asyncId: `${prefix}-async`,
      startsWorkers: false,
      ...(isTls ? { isTls } : {}),
      ...(isTls && 'unavailable' in tls ? { unavailable: tls.unavailable } : {}),
      ...extra,
    });
    return [
      scaleOut('async', 'echo raw async, 1 process', ['--strategy', 'async'], { strategy: 'async' }),
      scaleOut(
        'reuse-port',
        `echo raw async × ${workers}, --reuse-port`,
        ['--strategy', 'async', '--reuse-port'],
        { strategy: 'async', instances: scaleOutInstances },
      ),
      scaleOut(
        'pool-process',
        `echo raw pool, ${workers} processes`,
        ['--strategy', 'pool', '--pool-kind', 'process', '--workers', workers],
        { strategy: 'pool', servesAtOnce: scaleOutInstances, startsWorkers: true },
      ),
      scaleOut(
        'pool-thread',
        `echo raw pool, ${workers} threads`,
        ['--strategy', 'pool', '--pool-kind', 'thread', '--workers', workers],
        { strategy: 'pool', servesAtOnce: scaleOutInstances, startsWorkers: true },
      ),
      // Event-loop workers: 64 connections each, accepted by the workers themselves (the pool's
      // default with --requests-per-worker above 1).
      ...(['process', 'thread'] as const).map((kind) =>
        scaleOut(
          `pool-${kind}-64`,
          `echo raw pool, ${workers} ${kind === 'thread' ? 'threads' : 'processes'} × 64, accept workers`,
          ['--strategy', 'pool', '--pool-kind', kind, '--workers', workers, '--requests-per-worker', '64'],
          { strategy: 'pool', servesAtOnce: scaleOutInstances * 64, startsWorkers: true },
        ),
      ),
    ];
  };
  const scaleOutServers: ServerSpec[] = [
    ...scaleOutSet(false),
    {
      id: 'raw-tls',
      name: 'node:tls raw (pipe)',
      kind: 'baseline',
      handler: 'raw',
      command: node,
      args: [local('../baselines/raw-tls-echo.ts'), '--cert', tlsFiles.certPath, '--key', tlsFiles.keyPath],
      baselineId: 'raw-tls',
      startsWorkers: false,
      isTls: true,
      ...('unavailable' in tls ? { unavailable: tls.unavailable } : {}),
    },
    ...scaleOutSet(true),
  ];
  // Worker pools, raw handler, on 127.0.0.1: the recipe's pool of 16 threads (one connection per
  // worker) and pools of 2 workers serving 64 connections each, each with the main thread accepting
  // (--accept main) and with the workers accepting (--accept workers); against one async process
  // and Python's pool of 16 threads. Every ratio divides by the one-process row.
  const poolsRow = (
    id: string,
    name: string,
    args: readonly string[],
    extra: Partial<ServerSpec>,
  ): ServerSpec => ({
    id,
    name,
    kind: 'pools',
    handler: 'raw',
    command: node,
    args: [echoServerBin, '--host', '127.0.0.1', '--port', '0', '--quiet', '--handler', 'raw', ...args],
    asyncId: poolsAsyncId,
    pythonId: pythonPoolId,
    startsWorkers: false,
    ...extra,
  });
  const pool = (
    workers: number,
    requestsPerWorker: number,
    kind: 'thread' | 'process',
    accept: 'main' | 'workers',
  ): ServerSpec => {
    const what = `${workers} ${kind === 'thread' ? 'threads' : 'processes'}${requestsPerWorker === 1 ? '' : ` × ${requestsPerWorker}`}`;
    return poolsRow(
      poolsRowId(workers, requestsPerWorker, kind, accept),
      `echo raw pool, ${what}, accept ${accept}`,
      [
        '--strategy',
        'pool',
        '--pool-kind',
        kind,
        '--workers',
        String(workers),
        '--requests-per-worker',
        String(requestsPerWorker),
        '--accept',
        accept,
      ],
      { strategy: 'pool', servesAtOnce: workers * requestsPerWorker, startsWorkers: true },
    );
  };
  const poolsServers: ServerSpec[] = [
    poolsRow(poolsAsyncId, 'echo raw async, 1 process', ['--strategy', 'async'], { strategy: 'async' }),
    pool(16, 1, 'thread', 'main'),
    pool(16, 1, 'thread', 'workers'),
    pool(2, 64, 'thread', 'main'),
    pool(2, 64, 'thread', 'workers'),
    pool(2, 64, 'process', 'main'),
    pool(2, 64, 'process', 'workers'),
  ];
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
      id: lineEchoBaselineId,
      name: 'node:net line echo, batched',
      kind: 'baseline',
      handler: 'stream',
      command: node,
      args: [local('../baselines/net-line-echo-batched.ts')],
      baselineId: lineEchoBaselineId,
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
      baselineId: lineEchoBaselineId,
      pythonId: pythonThreadingId,
      startsWorkers: false,
    },
    // Strategy by strategy, raw then stream: A B C … in every round.
    ...echo,
    pythonServer(pythonThreadingId, 'Python ThreadingTCPServer', ['threading']),
    pythonServer(pythonPoolId, 'Python pool (16 threads)', ['pool']),
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
    ...scaleOutServers,
    ...poolsServers,
  ];
}

const echoScenarios: readonly ScenarioId[] = ['throughput', 'pingpong-1', 'pingpong-50', 'connect', 'large'];

/**
 * Why `server` does not run `scenario` (skipped, with this reason in the tables), or undefined
 * when it does. Chosen so the full run stays near 10 minutes, and where a cell makes no sense.
 */
export function skipReason(scenario: ScenarioId, server: ServerSpec): string | undefined {
  if (scenario.startsWith('scale-') || server.kind === 'scale-out')
    return scaleOutSkipReason(scenario, server);
  if (scenario.startsWith('pools-') || server.kind === 'pools') return poolsSkipReason(scenario, server);
  const isCpuServer = server.kind === 'cpu' || server.id === pythonThreadingCpuId;
  if (scenario === 'cpu') return isCpuServer ? undefined : 'not a CPU-bound server';
  if (isCpuServer) return 'CPU-bound servers run the CPU-bound scenario only';
  if (server.kind === 'ceiling') {
    return scenario === 'throughput' || scenario.startsWith('pingpong') || scenario === 'connect'
      ? undefined
      : 'the ceiling reference runs the throughput, ping-pong and connection rate scenarios only';
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
  if (server.id === pythonPoolId && scenario === 'throughput') {
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

/** The scale-out group's cells: a pool cannot hold more long-lived connections than it has workers. */
function scaleOutSkipReason(scenario: ScenarioId, server: ServerSpec): string | undefined {
  if (!scenario.startsWith('scale-')) return 'the scale-out servers run the scale-out scenarios only';
  if (server.isTls === true && scenario !== 'scale-connect' && scenario !== 'scale-bulk-n') {
    return 'the TLS rows run the connection rate and bulk scenarios only';
  }
  const request = scenarioById(scenario).request(0, { warmupMs: 0, durationMs: 0, drainMs: 0 }, 0);
  const connections = request.kind === 'stream' ? request.connections : 0;
  const capacity = server.servesAtOnce;
  if (capacity !== undefined && connections > capacity) {
    return (
      `serves ${capacity} connections at a time (--workers ${capacity}, one connection per worker): ` +
      `${connections - capacity} of the ${connections} would wait for the window to end`
    );
  }
  return undefined;
}

/** The pools group's cells: large transfers for the pools of 2 workers × 64 and the async row only. */
function poolsSkipReason(scenario: ScenarioId, server: ServerSpec): string | undefined {
  if (!scenario.startsWith('pools-')) return 'the pools servers run the pools scenarios only';
  if (scenario === 'pools-large') {
    if (server.kind === 'python') {
      return "the recipe's listen backlog of 5: some of 20 simultaneous 1 MiB connects are reset (ECONNRESET)";
    }
    if (server.servesAtOnce !== undefined && server.servesAtOnce < 20) {
      return (
        `serves ${server.servesAtOnce} connections at a time (one per worker): no aim here, ` +
        "and the echo group's echo raw pool row runs large transfers"
      );
    }
  }
  return undefined;
}

export function groups(servers: readonly ServerSpec[]): Group[] {
  const isCpuServer = (server: ServerSpec): boolean =>
    server.kind === 'cpu' || server.id === pythonThreadingCpuId;
  const isEchoGroupServer = (server: ServerSpec): boolean =>
    !isCpuServer(server) && server.kind !== 'scale-out' && server.kind !== 'pools' && server.isTls !== true;
  return [
    { id: 'echo', servers: servers.filter(isEchoGroupServer), scenarios: echoScenarios },
    {
      id: 'idle',
      servers: servers.filter((server) => isEchoGroupServer(server) && server.kind !== 'ceiling'),
      scenarios: ['idle'],
    },
    { id: 'cpu', servers: servers.filter(isCpuServer), scenarios: ['cpu'] },
    {
      id: 'scale-out',
      servers: servers.filter(
        (server) => server.kind === 'scale-out' || server.id === 'raw-net' || server.id === 'raw-tls',
      ),
      scenarios: ['scale-connect', 'scale-pingpong-n', 'scale-pingpong-32', 'scale-bulk-n'],
    },
    {
      id: 'pools',
      servers: servers.filter((server) => server.kind === 'pools' || server.id === pythonPoolId),
      scenarios: ['pools-connect', 'pools-large'],
      hasLongFirstWarmup: true,
    },
  ];
}
