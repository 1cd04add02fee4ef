import { execFile } from 'node:child_process';
import { once } from 'node:events';
import {
  accessSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ServerProcess } from '@socketserver/client/server-process';

/** Where `haproxy` is, or why there is none (for a test to print as it skips). */
export type HaproxyAvailability = { path: string } | { missing: string };

/** Bound of the whole installation, `apt-get update` included: it may wait 300 s for dpkg's lock. */
export const haproxyInstallTimeoutMs = 420_000;

/** Directories searched besides PATH: a package puts haproxy in an sbin that a user's PATH may lack. */
const sbinDirectories = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/**
 * Find `haproxy`; when it is missing and this process is root with apt-get, install the package
 * (`--no-install-recommends`, waiting up to 300 s for dpkg's lock; `apt-get update` first only if
 * the install fails for want of package lists). A daemon the package's scripts started from their
 * own /etc/haproxy config is stopped again: tests run their own HAProxy. Never rejects: what
 * stands in the way comes back as `missing`.
 */
export async function ensureHaproxy(): Promise<HaproxyAvailability> {
  const found = findExecutable('haproxy');
  if (found !== undefined) return { path: found };
  if (process.getuid?.() !== 0) return { missing: 'haproxy is not installed, and installing it needs root' };
  const aptGet = findExecutable('apt-get');
  if (aptGet === undefined)
    return { missing: 'haproxy is not installed, and there is no apt-get to install it' };

  const deadline = Date.now() + haproxyInstallTimeoutMs;
  const daemonsBefore = new Set(haproxyProcesses());
  const install = ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', 'haproxy'];
  let result = await runUntil(aptGet, install, deadline);
  if (
    !result.ok &&
    /Unable to locate package|no installation candidate|Failed to fetch/.test(result.output)
  ) {
    const update = await runUntil(aptGet, ['-o', 'DPkg::Lock::Timeout=300', 'update'], deadline);
    if (!update.ok) return { missing: `apt-get update failed: ${lastLines(update.output)}` };
    result = await runUntil(aptGet, install, deadline);
  }
  const stopped = await stopPackageDaemons(daemonsBefore);
  if (!result.ok) return { missing: `apt-get install haproxy failed: ${lastLines(result.output)}` };
  if (stopped !== undefined) return { missing: stopped };
  const installed = findExecutable('haproxy');
  return installed === undefined
    ? { missing: 'apt-get installed haproxy, yet no haproxy executable was found' }
    : { path: installed };
}

/** A running `haproxy -db`: its config file, its admin socket, and how to stop it. */
export interface HaproxyProcess extends AsyncDisposable {
  /** The process, its output captured. */
  readonly process: ServerProcess;
  /** The admin-level stats socket the helper added to the config (`show stat`, `show info`). */
  readonly statsSocket: string;
  /** Send one command to the stats socket; resolves with the whole answer. */
  command(line: string): Promise<string>;
  /** `show stat` as rows, keyed by the CSV header's field names (`pxname`, `svname`, `status`, ...). */
  showStat(): Promise<Record<string, string>[]>;
  /** Kill HAProxy (SIGTERM, then SIGKILL if it lingers), wait for it to exit, remove its directory. */
  stop(): Promise<void>;
}

/** Options of {@link startHaproxy}. */
export interface StartHaproxyOptions {
  /** The haproxy executable. Default: the one on PATH or in an sbin directory. */
  haproxy?: string;
  /** Bound of the config check and of the wait for readiness, in ms. Default 10000. */
  timeoutMs?: number;
}

/**
 * Write `configText` to a fresh directory, with an admin stats socket there added to its `global`
 * section, check it (`haproxy -c -f`, rejecting with HAProxy's complaint), and run it in the
 * foreground (`haproxy -db -f`). Resolves once HAProxy answers on the stats socket: it serves its
 * sockets only after every frontend is bound and listening.
 */
export async function startHaproxy(
  configText: string,
  options: StartHaproxyOptions = {},
): Promise<HaproxyProcess> {
  const { timeoutMs = 10_000 } = options;
  const haproxy = options.haproxy ?? findExecutable('haproxy');
  if (haproxy === undefined) throw new Error('haproxy is not installed (see ensureHaproxy)');
  if (!/^global\s*$/m.test(configText)) throw new Error('the HAProxy config has no global section');

  const directory = mkdtempSync(join(tmpdir(), 'haproxy-'));
  const statsSocket = join(directory, 'admin.sock');
  const configFile = join(directory, 'haproxy.cfg');
  writeFileSync(
    configFile,
    configText.replace(
      /^global\s*$/m,
      (line) => `${line}\n    stats socket ${statsSocket} mode 600 level admin`,
    ),
  );
  const removeDirectory = (): void => rmSync(directory, { recursive: true, force: true });

  const check = await runUntil(haproxy, ['-c', '-f', configFile], Date.now() + timeoutMs);
  if (!check.ok) {
    removeDirectory();
    throw new Error(`haproxy -c rejects the config:\n${check.output}`);
  }

  const child = ServerProcess.start(haproxy, ['-db', '-f', configFile]);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      child.kill('SIGTERM');
      try {
        await child.waitForExit({ timeoutMs: 5000 });
      } catch {
        await child[Symbol.asyncDispose](); // SIGKILL, and wait
      } finally {
        removeDirectory();
      }
    })());
  const command = (line: string): Promise<string> => askStatsSocket(statsSocket, line, timeoutMs);
  const handle: HaproxyProcess = {
    process: child,
    statsSocket,
    command,
    showStat: async () => parseStatCsv(await command('show stat')),
    stop,
    [Symbol.asyncDispose]: stop,
  };

  try {
    await waitForStatsSocket(handle, timeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  return handle;
}

/**
 * Poll the stats socket until HAProxy answers `show info`, or it exits, or `timeoutMs` passes.
 * HAProxy says nothing on its own once ready, and the socket file appears before it is served, so
 * this is a bounded poll (at most one attempt per 20 ms).
 */
async function waitForStatsSocket(haproxy: HaproxyProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let attempt = 0; Date.now() < deadline && attempt < 10_000; attempt += 1) {
    if (!haproxy.process.isRunning) break;
    try {
      if ((await askStatsSocket(haproxy.statsSocket, 'show info', deadline - Date.now())).includes('Pid:'))
        return;
    } catch (error) {
      lastError = error;
    }
    await delay(20);
  }
  throw new Error(
    `HAProxy did not answer on its stats socket within ${timeoutMs} ms (${String(lastError)}); ` +
      `running: ${haproxy.process.isRunning}, output: ${JSON.stringify(haproxy.process.stdout + haproxy.process.stderr)}`,
  );
}

/** One command on a stats socket, non-interactive: HAProxy answers and closes. */
async function askStatsSocket(path: string, line: string, timeoutMs: number): Promise<string> {
  const socket = createConnection({ path });
  const signal = AbortSignal.timeout(Math.max(1, timeoutMs));
  try {
    await once(socket, 'connect', { signal });
    socket.end(`${line}\n`);
    let answer = '';
    socket.setEncoding('utf8').on('data', (text: string) => void (answer += text));
    await once(socket, 'end', { signal });
    return answer;
  } finally {
    socket.destroy();
  }
}

/** `show stat` CSV (`# pxname,svname,...` then one line per proxy and server) as records. */
function parseStatCsv(csv: string): Record<string, string>[] {
  const [header, ...rows] = csv.split('\n').filter((line) => line.trim() !== '');
  if (header === undefined || !header.startsWith('# ')) throw new Error(`not show stat output: ${csv}`);
  const names = header.slice(2).split(',');
  return rows.map((row) => {
    const values = row.split(',');
    return Object.fromEntries(names.map((name, index) => [name, values[index] ?? '']));
  });
}

/** An executable on PATH or in an sbin directory. */
function findExecutable(name: string): string | undefined {
  const directories = [...(process.env['PATH'] ?? '').split(delimiter), ...sbinDirectories];
  for (const directory of directories) {
    if (directory === '') continue;
    const candidate = join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Run a command to its end or to `deadline`; its exit status and its output, stdout and stderr. */
async function runUntil(
  file: string,
  args: readonly string[],
  deadline: number,
): Promise<{ ok: boolean; output: string }> {
  const timeout = Math.max(1, deadline - Date.now());
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout, killSignal: 'SIGKILL', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        resolve({
          ok: error === null,
          output: error?.killed === true ? `${output}\n(killed after ${timeout} ms)` : output,
        });
      },
    );
  });
}

/**
 * The pids of running haproxy processes on the package's own config (/etc/haproxy), from /proc;
 * the ones tests start run on a config in a temporary directory and are not counted.
 */
function haproxyProcesses(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'haproxy') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('/etc/haproxy/')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Stop the haproxy processes that appeared while the package was installed (its scripts may
 * start the service from /etc/haproxy/haproxy.cfg, unless policy-rc.d forbids it as in most
 * containers): through the service manager first (under systemd a killed service may be
 * restarted), then SIGTERM to each one left, by pid; and wait (bounded) for them to go. Resolves
 * with why it could not, or `undefined`.
 */
async function stopPackageDaemons(before: ReadonlySet<number>): Promise<string | undefined> {
  const isNew = (pid: number): boolean => !before.has(pid);
  const started = haproxyProcesses().filter(isNew);
  if (started.length === 0) return undefined;
  const invokeRcD = findExecutable('invoke-rc.d');
  if (invokeRcD !== undefined) await runUntil(invokeRcD, ['haproxy', 'stop'], Date.now() + 30_000);
  for (const pid of haproxyProcesses().filter(isNew)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (let attempt = 0; attempt < 250; attempt += 1) {
    if (!haproxyProcesses().some(isNew)) return undefined;
    await delay(20);
  }
  return `the haproxy the package started (pids ${haproxyProcesses().filter(isNew).join(', ')}) did not stop within 5 s`;
}

/** The end of a command's output, for a one-line reason. */
function lastLines(output: string): string {
  return output.trim().split('\n').slice(-3).join(' / ');
}
