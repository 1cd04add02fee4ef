import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Between two looks at the terminal while waiting for something to show. */
const pollIntervalMs = 25;
/** The default bound of every wait. */
const defaultTimeoutMs = 5000;

/** Options of {@link TmuxSession.start}. */
export interface TmuxSessionOptions {
  /** Environment variables set for the command (through `env`), on top of this process's. */
  env?: Record<string, string>;
  /** Environment variables removed for the command. */
  unsetEnv?: readonly string[];
  /** Terminal width in columns. Default: 120. */
  width?: number;
  /** Terminal height in lines. Default: 40. */
  height?: number;
}

/** What a screen wait looks for: text, a pattern, or a test of the whole screen. */
export type ScreenExpectation = string | RegExp | ((screen: string) => boolean);

/** The bound of one wait, in milliseconds. Default: 5000. */
export interface WaitOptions {
  timeoutMs?: number;
}

/**
 * A command running in a real pseudo-terminal: a detached tmux session on its own server, typed
 * into with `send-keys` and read with `capture-pane`, as a person would use it. The server's
 * socket (`-S`: `-L` at a path) lives in the session's temporary directory and goes with it,
 * where tmux would leave a `-L` socket behind in /tmp/tmux-UID after `kill-server`.
 * Every wait polls the terminal a bounded number of times. The pane stays after the command
 * exits so its exit status can be read. Disposing kills the tmux server and with it the command.
 */
export class TmuxSession implements AsyncDisposable {
  readonly #directory: string;
  readonly #socketPath: string;
  readonly #configPath: string;
  readonly #target = 'main';

  private constructor(directory: string) {
    this.#directory = directory;
    this.#socketPath = join(directory, 'tmux.sock');
    this.#configPath = join(directory, 'tmux.conf');
  }

  /** Starts `command` (argv, no shell) in a new session and returns once tmux has started it. */
  static async start(command: readonly string[], options: TmuxSessionOptions = {}): Promise<TmuxSession> {
    const directory = await mkdtemp(join(tmpdir(), 'repl-client-tmux-'));
    const session = new TmuxSession(directory);
    try {
      // remain-on-exit keeps a dead pane, with its exit status; no status line, so the pane is the whole window.
      await writeFile(session.#configPath, 'set-option -g status off\nset-option -wg remain-on-exit on\n');
      const environment = Object.entries(options.env ?? {}).map(([name, value]) => `${name}=${value}`);
      const unset = ['TMUX', ...(options.unsetEnv ?? [])].flatMap((name) => ['-u', name]);
      const shellCommand = ['env', ...unset, ...environment, ...command].map(quoteForShell).join(' ');
      const [width, height] = [options.width ?? 120, options.height ?? 40];
      await session.#tmux(
        'new-session',
        '-d',
        '-x',
        `${width}`,
        '-y',
        `${height}`,
        '-s',
        session.#target,
        shellCommand,
      );
      return session;
    } catch (error) {
      await session[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** Types `text` literally (no key names). */
  async type(text: string): Promise<void> {
    await this.#tmux('send-keys', '-t', this.#target, '-l', text);
  }

  /** Presses keys by tmux name: `Enter`, `Tab`, `Up`, `C-c`, `C-d`, `C-u`. */
  async press(...keys: string[]): Promise<void> {
    await this.#tmux('send-keys', '-t', this.#target, ...keys);
  }

  /** Types `line` and presses Enter. */
  async enter(line: string): Promise<void> {
    await this.type(line);
    await this.press('Enter');
  }

  /** The visible screen: wrapped lines joined, trailing spaces and trailing empty lines removed. */
  async screen(): Promise<string> {
    const text = await this.#tmux('capture-pane', '-p', '-J', '-t', this.#target);
    return text
      .split('\n')
      .map((line) => line.trimEnd())
      .join('\n')
      .trimEnd();
  }

  /** The line the cursor is on (the one being typed), trailing spaces removed. */
  async cursorLine(): Promise<string> {
    const cursorY = Number(await this.#format('#{cursor_y}'));
    const lines = (await this.#tmux('capture-pane', '-p', '-t', this.#target)).split('\n');
    return (lines[cursorY] ?? '').trimEnd();
  }

  /**
   * Whether the terminal is in raw mode (`-icanon`), as a program reading single keys sets it.
   * Node's REPL leaves raw mode while a command runs synchronously, so a Ctrl-C then is SIGINT.
   */
  async isRaw(): Promise<boolean> {
    const { stdout } = await execFileAsync('stty', ['-F', await this.#format('#{pane_tty}'), '-a'], {
      timeout: 5000,
    });
    return /(^|\s)-icanon(\s|$)/.test(stdout);
  }

  /** Waits until the screen shows `expected` (a string anywhere, a pattern, or a test); returns that screen. */
  async waitForScreen(expected: ScreenExpectation, options: WaitOptions = {}): Promise<string> {
    const matches =
      typeof expected === 'string'
        ? (screen: string) => screen.includes(expected)
        : expected instanceof RegExp
          ? (screen: string) => expected.test(screen)
          : expected;
    return this.#poll(
      () => this.screen(),
      matches,
      options,
      (screen) => {
        return `the screen did not show ${String(expected)}; it shows:\n${screen}`;
      },
    );
  }

  /** Waits until the cursor's line reads `expected`, or matches it. */
  async waitForCursorLine(expected: string | RegExp, options: WaitOptions = {}): Promise<void> {
    const matches = (line: string): boolean =>
      typeof expected === 'string' ? line === expected : expected.test(line);
    await this.#poll(
      () => this.cursorLine(),
      matches,
      options,
      (line) => {
        return `the cursor's line did not read ${String(expected)}: ${JSON.stringify(line)}`;
      },
    );
  }

  /** Waits until the terminal is in raw mode again. */
  async waitForRaw(options: WaitOptions = {}): Promise<void> {
    await this.#poll(
      () => this.isRaw(),
      (isRaw) => isRaw,
      options,
      () => 'the terminal did not go back to raw mode',
    );
  }

  /**
   * The command's exit status once it has exited, else `undefined`.
   *
   * tmux marks the pane dead when its terminal closes, and learns the status when it reaps the
   * process on SIGCHLD. On these machines tmux 3.3a now and then misses that SIGCHLD and leaves
   * a zombie; running any job (`run-shell true`) makes it reap every exited child, so a dead pane
   * without a status gets that nudge.
   */
  async exitStatus(): Promise<number | undefined> {
    const read = async (): Promise<[isDead: boolean, status: number | undefined]> => {
      const [isDead, status = ''] = (await this.#format('#{pane_dead} #{pane_dead_status}')).split(' ');
      return [isDead === '1', /^\d+$/.test(status) ? Number(status) : undefined];
    };
    const [isDead, status] = await read();
    if (!isDead || status !== undefined) return status;
    await this.#tmux('run-shell', 'true');
    return (await read())[1];
  }

  /** Waits until the command exits; resolves with its exit status. */
  async waitForExit(options: WaitOptions = {}): Promise<number> {
    const status = await this.#poll(
      () => this.exitStatus(),
      (value) => value !== undefined,
      options,
      () => 'the command did not exit',
    );
    return status as number;
  }

  /** Kills the tmux server (and so the command) and removes the session's files, its socket included. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#tmux('kill-server').catch(() => undefined);
    await rm(this.#directory, { recursive: true, force: true });
  }

  /** Reads until `isDone`, at most `timeoutMs` and that many / {@link pollIntervalMs} times. */
  async #poll<T>(
    read: () => Promise<T>,
    isDone: (value: T) => boolean,
    options: WaitOptions,
    describeFailure: (lastValue: T) => string,
  ): Promise<T> {
    const { timeoutMs = defaultTimeoutMs } = options;
    const deadline = performance.now() + timeoutMs;
    let value = await read();
    for (let attempt = 0; !isDone(value); attempt += 1) {
      if (performance.now() >= deadline || attempt >= timeoutMs / pollIntervalMs) {
        throw new Error(`${describeFailure(value)}\n(waited ${timeoutMs} ms)`);
      }
      await delay(pollIntervalMs);
      value = await read();
    }
    return value;
  }

  async #format(format: string): Promise<string> {
    return (await this.#tmux('display-message', '-p', '-t', this.#target, format)).trim();
  }

  async #tmux(...args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileAsync(
        'tmux',
        ['-S', this.#socketPath, '-f', this.#configPath, ...args],
        {
          timeout: 5000,
        },
      );
      return stdout;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(
          'these tests drive a terminal through tmux, which is not installed: apt-get install -y tmux',
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }
}

function quoteForShell(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
