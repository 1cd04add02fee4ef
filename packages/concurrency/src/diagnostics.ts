// The worker events of node:diagnostics_channel (core publishes the connection and request ones):
// nothing is built or published while nobody subscribes. Names and payloads: the README.
import diagnosticsChannel, { type Channel } from 'node:diagnostics_channel';
import type { WorkerKind } from './worker-handle.js';

/** `socketserver:worker:start`: a strategy started a worker (see {@link WorkerStartMessage}). */
export const workerStartChannel: Channel = diagnosticsChannel.channel('socketserver:worker:start');

/** `socketserver:worker:exit`: a worker has exited, for whatever reason (see {@link WorkerExitMessage}). */
export const workerExitChannel: Channel = diagnosticsChannel.channel('socketserver:worker:exit');

/**
 * `socketserver:worker:restart`: a worker died while serving, and another will replace it (see
 * {@link WorkerExitMessage}); published before its `exit`.
 */
export const workerRestartChannel: Channel = diagnosticsChannel.channel('socketserver:worker:restart');

/** What `socketserver:worker:start` carries. */
export interface WorkerStartMessage {
  /** The strategy (a `WorkerPool`). */
  readonly strategy: object;
  /** The worker's id: a thread id or a process id. */
  readonly id: number;
  /** `'thread'` or `'process'`. */
  readonly kind: WorkerKind;
}

/** What `socketserver:worker:exit` and `socketserver:worker:restart` carry. */
export interface WorkerExitMessage extends WorkerStartMessage {
  /** Its exit code; `null` when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended a child process; `null` otherwise. */
  readonly signal: NodeJS.Signals | null;
  /** Why it died, when it did not stop on request (an uncaught exception, no answer to pings, ...). */
  readonly error: Error | undefined;
}

/** Publish `message` on `channel`, built only if anyone listens. */
export function publish(channel: Channel, message: () => object): void {
  if (channel.hasSubscribers) channel.publish(message());
}
