// The soak runner holds the client side of every connection (10,000 idle ones), so it needs a high
// fd limit. Node raises its soft limit to the hard one as it starts, and no further. When the hard
// limit is too low, the runner runs itself again through `sh -c 'ulimit -n N …; exec "$@"'` (as
// ManagedProcess starts servers), which raises it where that is allowed (CAP_SYS_RESOURCE), and
// exits with that run's status; signals are passed on, so the inner run stops its servers. Where
// it is not allowed, run.ts opens fewer idle connections and says so.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

const reExecutedVariable = 'SOCKETSERVER_SOAK_FD_RAISED';

/** The soft limit on open files of this process (/proc/self/limits). */
export function softFdLimit(): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const value = match?.[1];
  return value === undefined ? 1024 : value === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(value);
}

/**
 * Resolves at once when the soft fd limit is at least `wanted` (or this is already the run with a
 * raised limit); otherwise runs this script again with the limit raised (as far as it goes) and
 * never resolves: the process exits with the inner run's status.
 */
export async function ensureFdLimit(wanted: number): Promise<void> {
  if (softFdLimit() >= wanted || process.env[reExecutedVariable] === '1') return;
  const script = `ulimit -n ${wanted} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
  const child = spawn(
    'sh',
    ['-c', script, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env: { ...process.env, [reExecutedVariable]: '1' },
    },
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  process.exit(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
}
