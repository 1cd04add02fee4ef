// The processes of one server row: one, or `instances` sharing a port with SO_REUSEPORT. The first
// starts on port 0; once it prints its port, the others start on that port (`--port P`), and the
// server is up when each has printed it. Stopped together; every process is a ManagedProcess.
import { ManagedProcess, type ExitStatus } from './managed-process.ts';

/** The line each server prints once listening; the port is its last word. */
const listeningLine = /running on port \d+$/;

export class ServerInstances {
  readonly #command: string;
  readonly #args: readonly string[];
  readonly #count: number;
  readonly #fdLimit: number;
  readonly #processes: ManagedProcess[] = [];

  /** Starts the first process at once; `listening()` starts the others. */
  constructor(command: string, args: readonly string[], instances: number, fdLimit: number) {
    this.#command = command;
    this.#args = args;
    this.#count = instances;
    this.#fdLimit = fdLimit;
    this.#processes.push(new ManagedProcess(command, args, fdLimit));
  }

  /** The pid of each process started, the first first. */
  get pids(): number[] {
    return this.#processes.map((member) => member.pid);
  }

  /** What the first process that exited exited with; undefined while every one runs. */
  get exitStatus(): ExitStatus | undefined {
    return this.#processes.find((member) => member.exitStatus !== undefined)?.exitStatus;
  }

  /** What they wrote to stderr, each process's text in turn. */
  get stderr(): string {
    return this.#processes.map((member) => member.stderr).join('');
  }

  /**
   * The port, once every process listens on it; rejects (naming the process) when one exits first
   * or takes longer than `timeoutMs` to print its port.
   */
  async listening(timeoutMs: number): Promise<number> {
    const portOf = async (member: ManagedProcess, index: number): Promise<number> => {
      try {
        const line = await member.nextLine(listeningLine, timeoutMs);
        return Number(line.slice(line.lastIndexOf(' ') + 1));
      } catch (error) {
        const which = this.#count === 1 ? '' : `process ${index + 1} of ${this.#count}: `;
        throw new Error(`${which}${(error as Error).message}`, { cause: error });
      }
    };
    const first = this.#processes[0] as ManagedProcess;
    const port = await portOf(first, 0);
    if (this.#count === 1) return port;
    const args = withPort(this.#args, port);
    for (let index = 1; index < this.#count; index += 1) {
      this.#processes.push(new ManagedProcess(this.#command, args, this.#fdLimit));
    }
    const ports = await Promise.all(
      this.#processes.slice(1).map((member, index) => portOf(member, index + 1)),
    );
    const other = ports.find((value) => value !== port);
    if (other !== undefined) throw new Error(`the processes listen on ports ${port} and ${other}, not one`);
    return port;
  }

  /** Waits up to `timeoutMs` for the processes that are exiting (after a failed start). */
  async waitForExit(timeoutMs: number): Promise<void> {
    await Promise.all(this.#processes.map((member) => member.waitForExit(timeoutMs)));
  }

  /** Stops every process (see ManagedProcess.stop); whether each exited on SIGINT in time. */
  async stop(timeoutMs: number): Promise<boolean> {
    const stopped = await Promise.all(this.#processes.map((member) => member.stop(timeoutMs)));
    return stopped.every(Boolean);
  }
}

/** `args` with the value after `--port` replaced by `port`. */
function withPort(args: readonly string[], port: number): string[] {
  const index = args.indexOf('--port');
  if (index === -1 || index + 1 >= args.length) {
    throw new Error(`a server started more than once needs --port in its arguments: ${args.join(' ')}`);
  }
  return args.map((arg, position) => (position === index + 1 ? String(port) : arg));
}
