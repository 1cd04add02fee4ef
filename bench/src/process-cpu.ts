// CPU time a server used, from /proc: for each of its processes (a server started N times on one
// port has N) the user and system time of that process and its descendants (a process pool has
// children), and the time of the first process's main thread (the one that accepts). Linux only.
import { execFileSync } from 'node:child_process';
import { processTrees, statFields } from './process-tree-rss.ts';
import { startDelayMs } from './load/protocol.ts';

/** Seconds of CPU, each a running total since the process started. */
export interface CpuSample {
  /** Per process started (`pids`), with its descendants. */
  readonly processSeconds: readonly number[];
  /** The main thread of the first process. */
  readonly mainThreadSeconds: number;
}

/** Clock ticks per second of /proc's times (USER_HZ). */
const clockTicksPerSecond = ((): number => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/**
 * Ticks of `/proc/<path>/stat`: utime + stime, and with `isWithReapedChildren` cutime + cstime
 * (children that exited and were waited for, so a worker replaced during the window still counts).
 * 0 when the process or thread is gone.
 */
function statTicks(path: string, isWithReapedChildren: boolean): number {
  // utime is field 14, the 12th after the name.
  const [utime = 0, stime = 0, cutime = 0, cstime = 0] = (statFields(path) ?? []).slice(11, 15).map(Number);
  return utime + stime + (isWithReapedChildren ? cutime + cstime : 0);
}

/** The CPU time of the processes `pids`, each with its descendants, now. */
export function sampleServerCpu(pids: readonly number[]): CpuSample {
  const seconds = (ticks: number): number => ticks / clockTicksPerSecond;
  const [first] = pids;
  return {
    processSeconds: processTrees(pids).map((tree) =>
      seconds(tree.reduce((sum, member) => sum + statTicks(String(member), true), 0)),
    ),
    mainThreadSeconds: first === undefined ? 0 : seconds(statTicks(`${first}/task/${first}`, false)),
  };
}

/**
 * The metrics of the CPU used between two samples, over `operations` operations in `windowMs`:
 * the cores it kept busy, microseconds per operation (in all, and on the first process's main
 * thread when there is one process), and with several processes the busiest one's share.
 */
export function cpuMetrics(
  start: CpuSample,
  end: CpuSample,
  operations: number,
  windowMs: number,
): Record<string, number> {
  const perProcess = end.processSeconds.map((value, index) => value - (start.processSeconds[index] ?? 0));
  const total = perProcess.reduce((sum, value) => sum + value, 0);
  const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;
  const perOperation = (value: number): number =>
    operations > 0 ? round((value * 1e6) / operations, 2) : Number.NaN;
  const metrics: Record<string, number> = {
    serverCpuSeconds: round(total, 3),
    serverCores: round(total / (windowMs / 1000), 3),
    cpuUsPerOperation: perOperation(total),
  };
  if (perProcess.length === 1) {
    metrics['mainThreadUsPerOperation'] = perOperation(end.mainThreadSeconds - start.mainThreadSeconds);
  } else if (total > 0) {
    metrics['busiestProcessShare'] = round(Math.max(...perProcess) / total, 3);
  }
  return metrics;
}

/**
 * The CPU of the processes `pids()` names at the start and at the end of a measured window,
 * sampled on timers counted from now (when the run command is sent: a generator starts
 * `startDelayMs` after it gets it), so within a few milliseconds of the generator's window.
 * `finish()`, once the run is over, clears the timers; if the end's has not fired yet (a loaded
 * machine delays timers, and a run can end a few milliseconds after its window), it samples the
 * end then. Used for the server's CPU and for the Node.js load generator's own.
 */
export function sampleCpuOverWindow(
  pids: () => readonly number[],
  window: { readonly warmupMs: number; readonly durationMs: number },
): { samples: { start?: CpuSample; end?: CpuSample }; finish: () => void } {
  const samples: { start?: CpuSample; end?: CpuSample } = {};
  const startMs = startDelayMs + window.warmupMs;
  const timers = [
    setTimeout(() => (samples.start = sampleServerCpu(pids())), startMs),
    setTimeout(() => (samples.end = sampleServerCpu(pids())), startMs + window.durationMs),
  ];
  const finish = (): void => {
    for (const timer of timers) clearTimeout(timer);
    if (samples.start !== undefined && samples.end === undefined) samples.end = sampleServerCpu(pids());
  };
  return { samples, finish };
}
