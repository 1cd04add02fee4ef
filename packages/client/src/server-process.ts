import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';

/** Options of {@link ServerProcess.start}. */
export interface ServerProcessOptions {
  /** Working directory. Default: this process's. */
  cwd?: string;
  /** Environment. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /**
   * File descriptors of this process to pass on as the child's fd 3, 4, ..., as a service manager
   * passes listening sockets (systemd socket activation). Default: none.
   */
  fds?: readonly number[];
}

/** How a process ended: its exit code, or the signal that ended it. */
export interface ProcessExit {
  /** The exit code, or `null` when a signal ended the process. */
  readonly code: number | null;
  /** The signal that ended the process, or `null` when it exited by itself. */
  readonly signal: NodeJS.Signals | null;
}

/**
 * A server command under test: started, read line by line, signalled, and always stopped.
 * Every wait is bounded; `await using` kills the process if it is still running.
 */
export class ServerProcess implements AsyncDisposable {
  /** The spawned child process. */
  readonly child: ChildProcess;
  /** Every complete line written to stdout so far, without its newline. */
  readonly stdoutLines: string[] = [];
  #stdout = '';
  #stderr = '';
  readonly #events = new EventEmitter();
  readonly #exited: Promise<ProcessExit>;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.setEncoding('utf8').on('data', (text: string) => this.#onStdout(text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.#stderr += text;
      this.#events.emit('stderr');
    });
    this.#exited = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
    });
    this.#exited.catch(() => {});
  }

  /** Spawn `command` with `args`, stdin closed, stdout and stderr captured. */
  static start(command: string, args: readonly string[], options: ServerProcessOptions = {}): ServerProcess {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe', ...(options.fds ?? [])],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    return new ServerProcess(child);
  }

  /** Everything written to stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Whether the process is still running. */
  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * The first stdout line (already written or still to come) that matches; rejects after
   * `timeoutMs` or if the process exits first, with what it printed.
   */
  async waitForLine(pattern: RegExp | string, options: { timeoutMs?: number } = {}): Promise<string> {
    const { timeoutMs = 10_000 } = options;
    const matches = (line: string): boolean =>
      typeof pattern === 'string' ? line === pattern : pattern.test(line);
    const signal = AbortSignal.timeout(timeoutMs);
    let checked = 0;
    try {
      for (;;) {
        for (; checked < this.stdoutLines.length; checked += 1) {
          const line = this.stdoutLines[checked];
          if (line !== undefined && matches(line)) return line;
        }
        if (!this.isRunning) throw new Error('the process exited');
        await Promise.race([once(this.#events, 'line', { signal }), this.#exited]);
      }
    } catch (error) {
      throw new Error(
        `no stdout line matching ${String(pattern)} (${(error as Error).message}); stdout: ${JSON.stringify(this.#stdout)}, stderr: ${JSON.stringify(this.#stderr)}`,
        { cause: error },
      );
    }
  }

  /**
   * Resolves once stderr holds `text` (written already or still to come); rejects after
   * `timeoutMs` or if the process exits first, with what it printed.
   */
  async waitForStderr(text: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const { timeoutMs = 10_000 } = options;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      while (!this.#stderr.includes(text)) {
        if (!this.isRunning) throw new Error('the process exited');
        await Promise.race([once(this.#events, 'stderr', { signal }), this.#exited]);
      }
    } catch (error) {
      throw new Error(
        `no ${JSON.stringify(text)} on stderr (${(error as Error).message}); stderr: ${JSON.stringify(this.#stderr)}`,
        { cause: error },
      );
    }
  }

  /** Send a signal to the process itself (not its group). */
  kill(signal: NodeJS.Signals): void {
    if (this.isRunning) this.child.kill(signal);
  }

  /** Resolves with how the process ended; rejects after `timeoutMs`. */
  async waitForExit(options: { timeoutMs?: number } = {}): Promise<ProcessExit> {
    const { timeoutMs = 10_000 } = options;
    const signal = AbortSignal.timeout(timeoutMs);
    let onAbort: (() => void) | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      onAbort = () =>
        reject(new Error(`the process did not exit within ${timeoutMs} ms; stderr: ${this.#stderr}`));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([this.#exited, timedOut]);
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Kill the process if it still runs, and wait for it to be gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kill('SIGKILL');
    await this.#exited.catch(() => {});
  }

  #onStdout(text: string): void {
    this.#stdout += text;
    const lines = this.#stdout.split('\n');
    const complete = lines.length - 1;
    if (complete > this.stdoutLines.length) {
      this.stdoutLines.push(...lines.slice(this.stdoutLines.length, complete));
      this.#events.emit('line');
    }
  }
}
