import { EventEmitter, once } from 'node:events';
import type { Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import {
  TCPServer,
  type ClientAddress,
  type RequestHandlerClass,
  type TCPServerOptions,
} from '@socketserver/core';
import type { WorkerPool } from '@socketserver/concurrency';
import { CommandEchoHandler } from './command-echo-handler.js';

/** Bound, in ms, of every wait on the test's side. */
export const waitMs = 10_000;

export interface RecordedError {
  readonly clientAddress: ClientAddress;
  readonly error: unknown;
}

/**
 * A TCPServer on a worker strategy that records what reaches `handleError` and
 * `handleServerError` instead of printing it, the client ports whose requests have finished, and
 * every worker its strategy started and saw exit.
 */
export class RecordingServer extends TCPServer {
  declare readonly strategy: WorkerPool;
  readonly errors: RecordedError[] = [];
  readonly serverErrors: unknown[] = [];
  /** Client ports whose connection the server has forgotten (request finished, or closed waiting). */
  readonly closedPorts: number[] = [];
  readonly startedWorkerIds: number[] = [];
  readonly exitedWorkerIds: number[] = [];
  readonly #changes = new EventEmitter();

  constructor(
    strategy: WorkerPool,
    options: TCPServerOptions = {},
    Handler: RequestHandlerClass = CommandEchoHandler,
  ) {
    super(['127.0.0.1', 0], Handler, { ...options, strategy });
    this.on('connectionState', ({ clientAddress, state }) => {
      if (state === 'closed' && clientAddress.family !== 'Unix')
        this.#record(this.closedPorts, clientAddress.port);
    });
    strategy.on('workerStart', (id) => this.#record(this.startedWorkerIds, id));
    strategy.on('workerExit', (id) => this.#record(this.exitedWorkerIds, id));
  }

  override handleError(_request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.#record(this.errors, { clientAddress, error });
  }

  override handleServerError(error: unknown): void {
    this.#record(this.serverErrors, error);
  }

  /** Resolves once `isDone()` holds, checked after every change this server records; rejects after `waitMs`. */
  async waitUntil(isDone: () => boolean): Promise<void> {
    const signal = AbortSignal.timeout(waitMs);
    while (!isDone()) await once(this.#changes, 'change', { signal });
  }

  /** Resolves once `count` errors have reached `handleError`. */
  async waitForErrors(count: number): Promise<RecordedError[]> {
    await this.waitUntil(() => this.errors.length >= count);
    return this.errors;
  }

  /** Resolves once the request of the client on `port` has finished. */
  async waitForRequestEnd(port: number): Promise<void> {
    await this.waitUntil(() => this.closedPorts.includes(port));
  }

  #record<T>(list: T[], item: T): void {
    list.push(item);
    this.#changes.emit('change');
  }
}

/**
 * A {@link RecordingServer} on an ephemeral loopback port, serving until the test finishes (it is
 * closed then); `serving` is its `serveForever()`.
 */
export function startServer(
  strategy: WorkerPool,
  options: TCPServerOptions = {},
  Handler?: RequestHandlerClass,
): { server: RecordingServer; serving: Promise<void> } {
  const server = new RecordingServer(strategy, options, Handler);
  onTestFinished(() => server.serverClose());
  const serving = server.serveForever();
  // Awaited by the tests that care; a failure still surfaces there, not as an unhandled rejection.
  serving.catch(() => {});
  return { server, serving };
}

/** Whether a process with this pid exists (a zombie counts: it is not reaped yet). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}
