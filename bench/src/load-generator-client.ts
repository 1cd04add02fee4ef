// The orchestrator's handle on the Node.js load generator process (load/generator.ts), and what
// every load generator (this one, or the native one: native-load-generator.ts) offers it.
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from './managed-process.ts';
import { sampleCpuOverWindow } from './process-cpu.ts';
import type { Endpoint, GeneratorCommand, GeneratorReply, LoadRequest, LoadTally } from './load/protocol.ts';

const generatorScript = fileURLToPath(new URL('load/generator.ts', import.meta.url));

/** What the orchestrator does at the idle scenario's steps: sample the server's RSS. */
export interface IdleSteps {
  /** After the warm-up connection, before the connections are opened. */
  readonly beforeOpen: () => void;
  /** Once every connection is open and has echoed its line. */
  readonly afterOpen: (connections: number, elapsedMs: number) => void;
}

export interface LoadOutcome {
  readonly tally: LoadTally;
  readonly elapsedMs: number;
  /**
   * The load generator's own CPU time (user + system) in the measured window, in seconds;
   * undefined when not measured (idle).
   */
  readonly generatorCpuSeconds?: number;
  /** The user-space part of `generatorCpuSeconds` (its own code), where measured (native). */
  readonly generatorUserCpuSeconds?: number;
  /** The cores the load generator could use at most: its processes (native) or worker threads (Node.js). */
  readonly generatorCores: number;
}

/** Which load generator ran a scenario. */
export type LoadGeneratorKind = 'native' | 'node';

/** What the orchestrator asks of a load generator. */
export interface LoadGenerator {
  readonly kind: LoadGeneratorKind;
  /** Resolves once the server echoes one line (undefined), or with why it did not. */
  ready(endpoint: Endpoint, timeoutMs: number): Promise<string | undefined>;
  /** Runs one scenario; rejects if the generator fails or takes longer than `timeoutMs`. */
  run(request: LoadRequest, timeoutMs: number, steps?: IdleSteps): Promise<LoadOutcome>;
  /** Stops it (and whatever it started). */
  close(): Promise<void>;
}

/** The Node.js load generator: one process, `workers` worker threads, for its whole server. */
export class LoadGeneratorClient implements LoadGenerator {
  readonly kind = 'node';
  readonly #workers: number;
  readonly #process: ManagedProcess;

  constructor(workers: number, fdLimit: number) {
    this.#workers = workers;
    this.#process = new ManagedProcess(
      process.execPath,
      [generatorScript, '--workers', String(workers)],
      fdLimit,
    );
  }

  get pid(): number {
    return this.#process.pid;
  }

  #send(command: GeneratorCommand): void {
    this.#process.writeLine(JSON.stringify(command));
  }

  async #reply(timeoutMs: number): Promise<GeneratorReply> {
    try {
      const line = await this.#process.nextLine(/^\{/, timeoutMs);
      const reply = JSON.parse(line) as GeneratorReply;
      if (reply.reply === 'error') throw new Error(reply.message);
      return reply;
    } catch (error) {
      const stderr = this.#process.stderr.trim();
      throw new Error(
        `load generator: ${(error as Error).message}${stderr === '' ? '' : `; stderr: ${stderr.slice(0, 500)}`}`,
        {
          cause: error,
        },
      );
    }
  }

  /** Resolves once the server echoes one line (undefined), or with why it did not. */
  async ready(endpoint: Endpoint, timeoutMs: number): Promise<string | undefined> {
    this.#send({ command: 'ready', ...endpoint, timeoutMs });
    const reply = await this.#reply(timeoutMs + 5_000);
    return reply.reply === 'ready' ? reply.failure : `unexpected reply ${reply.reply}`;
  }

  /**
   * Runs one scenario; rejects if the generator fails or takes longer than `timeoutMs`. Its own
   * CPU (the process, all its threads) is sampled from /proc at the measured window's edges, on
   * timers counted from the command (as run.ts samples the server's).
   */
  async run(request: LoadRequest, timeoutMs: number, steps?: IdleSteps): Promise<LoadOutcome> {
    const cpu = request.kind === 'idle' ? undefined : sampleCpuOverWindow(() => [this.pid], request);
    let outcome: { tally: LoadTally; elapsedMs: number };
    try {
      outcome = await this.#run(request, timeoutMs, steps);
    } finally {
      cpu?.finish();
    }
    const { start, end } = cpu?.samples ?? {};
    return {
      ...outcome,
      generatorCores: this.#workers,
      ...(start === undefined || end === undefined
        ? {}
        : { generatorCpuSeconds: (end.processSeconds[0] ?? 0) - (start.processSeconds[0] ?? 0) }),
    };
  }

  async #run(
    request: LoadRequest,
    timeoutMs: number,
    steps: IdleSteps | undefined,
  ): Promise<{ tally: LoadTally; elapsedMs: number }> {
    this.#send({ command: 'run', request });
    if (request.kind === 'idle') {
      if (steps === undefined) throw new Error('the idle scenario needs its steps');
      await this.#expect('baseline', timeoutMs);
      steps.beforeOpen();
      this.#send({ command: 'open' });
      const opened = await this.#reply(timeoutMs);
      if (opened.reply !== 'opened')
        throw new Error(`load generator: replied ${opened.reply}, expected opened`);
      steps.afterOpen(opened.connections, opened.elapsedMs);
      this.#send({ command: 'close' });
    }
    const reply = await this.#reply(timeoutMs);
    if (reply.reply !== 'result')
      throw new Error(`load generator: replied ${reply.reply}, expected a result`);
    return { tally: reply.tally, elapsedMs: reply.elapsedMs };
  }

  async #expect(kind: GeneratorReply['reply'], timeoutMs: number): Promise<void> {
    const reply = await this.#reply(timeoutMs);
    if (reply.reply !== kind) throw new Error(`load generator: replied ${reply.reply}, expected ${kind}`);
  }

  /** Ends its stdin (it exits), SIGKILL to its group if it has not within 5 s. */
  async close(): Promise<void> {
    this.#process.endInput();
    if ((await this.#process.waitForExit(5_000)) === undefined) this.#process.killGroup();
    this.#process.killGroup();
  }
}
