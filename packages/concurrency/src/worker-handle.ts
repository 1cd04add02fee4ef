import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker, type Transferable } from 'node:worker_threads';
import type { MainToWorkerMessage, WorkerToMainMessage } from './handoff-protocol.js';

/** Where a worker runs: a worker thread of this process, or a child process. */
export type WorkerKind = 'thread' | 'process';

/** How a worker ended. */
export interface WorkerExit {
  /** The exit code; `null` when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended a child process (`SIGKILL`, ...); `null` otherwise. */
  readonly signal: NodeJS.Signals | null;
  /** What the runtime reported just before (a thread that failed to load, a child that failed to spawn). */
  readonly error: Error | undefined;
}

/**
 * What a {@link WorkerHandle} reports; `exit` comes once, after every message. A `batch` comes as
 * the messages in it, one by one.
 */
export interface WorkerListeners {
  message(message: Exclude<WorkerToMainMessage, { type: 'batch' }>): void;
  exit(exit: WorkerExit): void;
}

/** One worker, thread or child process, seen from the main thread. */
export interface WorkerHandle {
  readonly kind: WorkerKind;
  /** The thread's `threadId`, or the child's pid. */
  readonly id: number;
  /**
   * Send a message, with the socket of a `request`: a thread gets the socket transferred (this
   * side's copy is destroyed at once); a child gets a duplicate, and this side keeps its copy open
   * (`keepOpen`) until the child answers `accepted`. The bytes of a `datagram` must be
   * `toWireBytes` of this kind: a thread's ArrayBuffer is transferred. Rejects if it could
   * not be sent (a value structured clone cannot copy, a closed channel).
   */
  send(message: MainToWorkerMessage, socket?: Socket): Promise<void>;
  /** End the worker at once: `worker.terminate()`, or SIGKILL. Its `exit` follows. */
  terminate(): void;
}

/** The built entry both kinds run. */
const entryUrl = new URL('./worker-entry.js', import.meta.url);

/**
 * The descriptor a child process finds an inherited listening socket on (its stdio entry 4, after
 * stdin, stdout, stderr and the IPC channel).
 */
export const inheritedListenerFd = 4;

/** How a child process's IPC channel encodes messages (a thread's always clones them). */
export type ProcessSerialization = 'json' | 'advanced';

/**
 * Start a worker running the worker entry. For a child process: `inheritFd`, a descriptor it
 * inherits as {@link inheritedListenerFd}, its own copy (threads share this process's
 * descriptors); `serialization`, its channel's encoding: `'advanced'` (structured clone) carries
 * a datagram's bytes as bytes, where JSON would need base64, and costs more per message than JSON
 * (measured: a connection hand-off's messages took 8% more CPU), so stream workers, whose messages
 * carry no bytes, keep JSON.
 */
export function spawnWorker(
  kind: WorkerKind,
  listeners: WorkerListeners,
  { inheritFd, serialization }: { inheritFd?: number | undefined; serialization: ProcessSerialization },
): WorkerHandle {
  return kind === 'thread'
    ? new ThreadWorker(listeners)
    : new ProcessWorker(listeners, inheritFd, serialization);
}

class ThreadWorker implements WorkerHandle {
  readonly kind = 'thread';
  readonly id: number;
  readonly #worker: Worker;

  constructor(listeners: WorkerListeners) {
    // stdout/stderr false: the thread's console output goes to this process's own streams.
    const worker = new Worker(entryUrl, { stdout: false, stderr: false });
    let error: Error | undefined;
    worker.on('message', (message: WorkerToMainMessage) => deliver(message, listeners));
    worker.on('error', (reported: unknown) => {
      error = reported instanceof Error ? reported : new Error(String(reported));
    });
    worker.once('exit', (code) => listeners.exit({ code, signal: null, error }));
    this.#worker = worker;
    this.id = worker.threadId;
  }

  send(message: MainToWorkerMessage, socket?: Socket): Promise<void> {
    // What postMessage throws (a socket that cannot be transferred) rejects the promise.
    return new Promise((resolve) => {
      if (socket !== undefined) {
        // Node >= 24.20 transfers a TCP socket that has read nothing (the server pauses on connect);
        // @types/node does not list net.Socket as Transferable yet.
        this.#worker.postMessage({ ...message, socket }, [socket as unknown as Transferable]);
      } else if (message.type === 'datagram') {
        // The datagram's bytes are a copy of their own (`toWireBytes`): moved, not cloned again.
        this.#worker.postMessage(message, [message.data.buffer as ArrayBuffer]);
      } else this.#worker.postMessage(message);
      resolve();
    });
  }

  terminate(): void {
    void this.#worker.terminate();
  }
}

class ProcessWorker implements WorkerHandle {
  readonly kind = 'process';
  readonly id: number;
  readonly #child: ChildProcess;

  constructor(
    listeners: WorkerListeners,
    inheritFd: number | undefined,
    serialization: ProcessSerialization,
  ) {
    // The child's console output goes straight to this process's terminal; stdin is not shared.
    const child = fork(fileURLToPath(entryUrl), [], {
      stdio:
        inheritFd === undefined
          ? ['ignore', 'inherit', 'inherit', 'ipc']
          : ['ignore', 'inherit', 'inherit', 'ipc', inheritFd],
      // A socket travels beside a message as its handle either way.
      serialization,
    });
    let error: Error | undefined;
    let hasExited = false;
    const exit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (hasExited) return;
      hasExited = true;
      listeners.exit({ code, signal, error });
    };
    child.on('message', (message: WorkerToMainMessage) => deliver(message, listeners));
    child.on('error', (reported) => {
      error = reported;
      // A child that never spawned has no 'exit' to come.
      if (child.pid === undefined) exit(null, null);
    });
    child.once('exit', exit);
    this.#child = child;
    this.id = child.pid ?? 0;
  }

  send(message: MainToWorkerMessage, socket?: Socket): Promise<void> {
    return new Promise((resolve, reject) => {
      const sent = (error: Error | null): void => (error === null ? resolve() : reject(error));
      if (!this.#child.connected) reject(new Error(`the IPC channel of process ${this.id} is closed`));
      else if (socket === undefined) this.#child.send(message, sent);
      else this.#child.send(message, socket, { keepOpen: true }, sent);
    });
  }

  terminate(): void {
    this.#child.kill('SIGKILL');
  }
}

/** Hand a worker's message to `listeners`, those of a batch one by one. */
function deliver(message: WorkerToMainMessage, listeners: WorkerListeners): void {
  if (message.type !== 'batch') listeners.message(message);
  else for (const each of message.messages) deliver(each, listeners);
}
