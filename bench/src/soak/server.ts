// The echo server a scenario runs against: `apps/echo/bin/echo-server.js --host 127.0.0.1
// --port 0 --quiet …` as a ManagedProcess (its own process group, its fd limit set), up once it
// prints `… running on port N`. What the scenarios read of it comes from /proc: its process tree
// (the server and its worker processes), their resident memory and their open file descriptors.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, describeExit, type ExitStatus } from '../managed-process.ts';
import { processTree, processTreeRssBytes, statFields } from '../process-tree-rss.ts';
import { host } from './client.ts';

export const echoServerBin = fileURLToPath(
  new URL('bin/echo-server.js', import.meta.resolve('@socketserver/echo/package.json')),
);

export interface ServerStart {
  /** The echo-server flags beyond `--host 127.0.0.1 --port 0 --quiet`. */
  readonly args: readonly string[];
  /** The soft fd limit the server starts with. */
  readonly fdLimit: number;
  /** Also `--metrics-port 0`, to read `stats()` (accept errors, worker restarts). */
  readonly metrics?: boolean;
}

export class SoakServer {
  readonly port: number;
  readonly args: readonly string[];
  readonly #process: ManagedProcess;
  readonly #metricsPort: number | undefined;
  /** stop() was called: an exit from then on is not a death. */
  #isStopping = false;

  private constructor(process: ManagedProcess, args: readonly string[], port: number, metricsPort?: number) {
    this.#process = process;
    this.args = args;
    this.port = port;
    this.#metricsPort = metricsPort;
  }

  /** Starts the server and waits (30 s at most) for its port; stops it again if it does not print it. */
  static async start({ args, fdLimit, metrics = false }: ServerStart): Promise<SoakServer> {
    const fullArgs = ['--host', host, '--port', '0', '--quiet', ...args];
    if (metrics) fullArgs.push('--metrics-port', '0');
    const child = new ManagedProcess(process.execPath, [echoServerBin, ...fullArgs], fdLimit);
    try {
      const banner = await child.nextLine(/running on port \d+$/, 30_000);
      const port = Number(banner.slice(banner.lastIndexOf(' ') + 1));
      let metricsPort: number | undefined;
      if (metrics) {
        const line = await child.nextLine(/^Metrics on http:\/\/127\.0\.0\.1:\d+\/metrics$/, 10_000);
        metricsPort = Number(/:(\d+)\/metrics$/.exec(line)?.[1]);
      }
      return new SoakServer(child, fullArgs, port, metricsPort);
    } catch (error) {
      await child.stop(2_000);
      throw new Error(
        `echo-server ${fullArgs.join(' ')}: ${(error as Error).message}; ${child.stderr.trim()}`,
        {
          cause: error,
        },
      );
    }
  }

  get pid(): number {
    return this.#process.pid;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.#process.exitStatus;
  }

  /** Why the server is not alive, or undefined while it runs (or once stop() was called). */
  get death(): string | undefined {
    const status = this.#process.exitStatus;
    return status === undefined || this.#isStopping ? undefined : `the server died (${describeExit(status)})`;
  }

  get stderr(): string {
    return this.#process.stderr;
  }

  /** How many lines of its stderr (as captured, the first 64 kB) match `pattern`. */
  stderrLines(pattern: RegExp): number {
    return this.stderr.split('\n').filter((line) => pattern.test(line)).length;
  }

  /**
   * The server's worker processes: its live descendants (a fork server's children, a process
   * pool's workers), not those that exited and are not reaped yet (zombies).
   */
  workerPids(): number[] {
    return processTree(this.pid)
      .slice(1)
      .filter((pid) => {
        const state = statFields(String(pid))?.[0];
        return state !== undefined && state !== 'Z';
      });
  }

  /** VmRSS of the server and its descendants, in bytes. */
  rssBytes(): number {
    return processTreeRssBytes(this.pid).bytes;
  }

  /** The server and its descendants now. */
  treePids(): number[] {
    return processTree(this.pid);
  }

  /** Open file descriptors of the server and its descendants. */
  fdCount(): number {
    return processTree(this.pid).reduce((sum, pid) => sum + fdsOf(pid).length, 0);
  }

  /** The most fds open in one process of the tree (the fd limit is per process). */
  mostFdsInOneProcess(): number {
    return Math.max(0, ...processTree(this.pid).map((pid) => fdsOf(pid).length));
  }

  /** The metrics endpoint's counters and gauges (`--metrics-port`), by name (labels kept in the name). */
  async metrics(): Promise<Map<string, number>> {
    if (this.#metricsPort === undefined) throw new Error('the server was started without --metrics-port');
    const response = await fetch(`http://${host}:${this.#metricsPort}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    const values = new Map<string, number>();
    for (const line of (await response.text()).split('\n')) {
      const match = /^(socketserver_\S+) (\S+)$/.exec(line);
      if (match !== null) values.set(match[1] as string, Number(match[2]));
    }
    return values;
  }

  /** SIGINT, SIGKILL to its group after 5 s (see ManagedProcess.stop); whether it exited on SIGINT. */
  async stop(): Promise<boolean> {
    this.#isStopping = true;
    return this.#process.stop(5_000);
  }
}

/**
 * VmRSS of these processes (0 for one that is gone), in bytes: the growth of a set of processes,
 * leaving out those started since (a fork server's next spare child).
 */
export function rssOf(pids: readonly number[]): number {
  let bytes = 0;
  for (const pid of pids) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      bytes += match === null ? 0 : Number(match[1]) * 1024;
    } catch {
      // gone since the listing: it holds no memory
    }
  }
  return bytes;
}

/** The fd numbers open in process `pid` (none once it is gone). */
function fdsOf(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`);
  } catch {
    return []; // exited since the listing
  }
}

/** The inodes of the sockets process `pid` holds open. */
export function socketInodesOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of fdsOf(pid)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match !== null) inodes.add(match[1] as string);
    } catch {
      // closed since the listing
    }
  }
  return inodes;
}

/**
 * The remote port of each IPv4 TCP socket whose local port is `localPort`, by inode: for the
 * server's port, the client's port of each connection it holds (/proc/net/tcp).
 */
export function peerPortsByInode(localPort: number): Map<string, number> {
  const ports = new Map<string, number>();
  const localHex = `:${localPort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [local, remote, inode] = [fields[1], fields[2], fields[9]];
    if (local?.endsWith(localHex) !== true || remote === undefined || inode === undefined) continue;
    ports.set(inode, Number.parseInt(remote.slice(remote.indexOf(':') + 1), 16));
  }
  return ports;
}
