// A child process the bench starts (a server or the load generator): in its own process group,
// with the fd limit raised through `sh -c 'ulimit -n N || ulimit -n "$(ulimit -Hn)"; exec "$@"'`, stdout split into lines.
// stop() sends SIGINT, then SIGKILL to the whole group after a timeout; killGroup() is the
// last resort every `finally` calls, so nothing outlives the bench.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';

/** Every group started and not yet killed: killed on the way out, whatever happens. */
const liveGroups = new Set<number>();

/** SIGKILL every process group the bench started and has not stopped yet. */
export function killAllGroups(): void {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveGroups.clear();
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  readonly pid: number;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  #partialLine = '';
  #stderr = '';
  readonly #exited: Promise<ExitStatus>;
  #exitStatus: ExitStatus | undefined;
  #lineWaiters: (() => void)[] = [];
  /** Its stdout has closed: every line it printed has been read ('exit' may come before that). */
  #isStdoutClosed = false;

  /** Starts `command args` with the soft fd limit raised to `fdLimit` (or as far as it goes). */
  constructor(command: string, args: readonly string[], fdLimit: number) {
    const script = `ulimit -n ${fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
    this.#child = spawn('sh', ['-c', script, 'sh', command, ...args], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (this.#child.pid === undefined) throw new Error(`could not start ${command}`);
    this.pid = this.#child.pid;
    liveGroups.add(this.pid);
    this.#child.stdout.setEncoding('utf8');
    this.#child.stderr.setEncoding('utf8');
    this.#child.stdout.on('data', (text: string) => {
      const parts = (this.#partialLine + text).split('\n');
      this.#partialLine = parts.pop() ?? '';
      this.#lines.push(...parts);
      this.#notify();
    });
    this.#child.stdout.on('close', () => {
      this.#isStdoutClosed = true;
      this.#notify();
    });
    this.#child.stderr.on('data', (text: string) => {
      if (this.#stderr.length < 64_000) this.#stderr += text;
    });
    this.#exited = once(this.#child, 'exit').then(([code, signal]) => {
      this.#exitStatus = { code: code as number | null, signal: signal as NodeJS.Signals | null };
      this.#notify();
      return this.#exitStatus;
    });
    this.#child.on('error', () => undefined); // reported through 'exit' and stderr
    this.#child.stdin.on('error', () => undefined); // a write after the process died
  }

  get stderr(): string {
    return this.#stderr;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.#exitStatus;
  }

  #notify(): void {
    const waiters = this.#lineWaiters;
    this.#lineWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Writes one line to the process's stdin. */
  writeLine(text: string): void {
    this.#child.stdin.write(`${text}\n`);
  }

  /** Ends the process's stdin. */
  endInput(): void {
    this.#child.stdin.end();
  }

  /**
   * The next stdout line (consumed) that matches `pattern`; rejects when the process exits first
   * or after `timeoutMs`.
   */
  async nextLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (let checks = 0; checks < 1_000_000; checks += 1) {
      const index = this.#lines.findIndex((line) => pattern.test(line));
      if (index !== -1) return this.#lines.splice(0, index + 1).at(-1) as string;
      // After 'exit', lines may still be on their way: only a closed stdout has no more.
      if (this.#exitStatus !== undefined && this.#isStdoutClosed) {
        throw new Error(`exited (${describeExit(this.#exitStatus)}) before printing ${String(pattern)}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`nothing matching ${String(pattern)} within ${timeoutMs} ms`);
      const { promise, resolve } = Promise.withResolvers<void>();
      const timer = setTimeout(resolve, left);
      this.#lineWaiters.push(resolve);
      await promise;
      clearTimeout(timer);
    }
    throw new Error('too many lines');
  }

  /** The exit status, or undefined if the process still runs after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<ExitStatus | undefined> {
    if (this.#exitStatus !== undefined) return this.#exitStatus;
    const { promise, resolve } = Promise.withResolvers<undefined>();
    const timer = setTimeout(resolve, timeoutMs, undefined);
    const status = await Promise.race([this.#exited, promise]);
    clearTimeout(timer);
    return status;
  }

  /**
   * SIGINT to the process (as a user's Ctrl-C), SIGKILL to its group after `timeoutMs`; then
   * SIGKILL to the group anyway, for any child left behind. Whether it exited on SIGINT in time.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    if (this.#exitStatus === undefined) {
      try {
        process.kill(this.pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
    const status = await this.waitForExit(timeoutMs);
    this.killGroup();
    await this.waitForExit(2_000);
    return status !== undefined;
  }

  /** SIGKILL to the process group (harmless if it is gone). */
  killGroup(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    liveGroups.delete(this.pid);
  }
}

export const describeExit = (status: ExitStatus): string =>
  status.signal === null ? `exit code ${String(status.code)}` : `signal ${status.signal}`;
