import type { Socket } from 'node:net';
import { InvalidOptionError, requireInteger } from '@socketserver/core';
import type { WorkerKind } from './worker-handle.js';
import { resolveWorkerStrategyOptions, WorkerPool, type WorkerStrategyOptions } from './worker-pool.js';

/** Options of {@link pool}. */
export interface PoolOptions extends WorkerStrategyOptions {
  /** Workers, an integer >= 1, all started by the server before its first accept; the recipe's `NWORKERS`. Default 16. */
  workers?: number;
  /** `'thread'` (the default): worker threads of this process. `'process'`: child processes. */
  kind?: WorkerKind;
  /**
   * Connections one worker serves at once, an integer >= 1, interleaved on its event loop. The
   * server serves `workers * perWorker` connections at once; the rest wait in its accept queue.
   * Default 1, as the recipe's threads that each run `serve_forever`.
   */
  perWorker?: number;
}

/**
 * The recipe's pre-allocated pool: a fixed set of workers, threads or processes, started with the
 * server, each serving `perWorker` connections at a time. Each connection goes to the least busy
 * worker. A worker that dies is replaced; only its own connections are lost.
 *
 * On a datagram server (`Request` is then `DatagramRequest`), each datagram goes to the least busy
 * worker with a copy of its bytes, and the worker's replies are sent through the server's socket.
 * Threads cannot serve a `UnixStreamServer` (Node moves only TCP sockets to worker threads): use
 * `kind: 'process'` there.
 */
export function pool<Request = Socket>(options: PoolOptions = {}): WorkerPool<Request> {
  const workers = requireInteger('workers', options.workers ?? 16, 1);
  const kind = options.kind ?? 'thread';
  if (kind !== 'thread' && kind !== 'process') {
    throw new InvalidOptionError('kind', kind, "'thread' or 'process'");
  }
  return new WorkerPool<Request>({
    name: `${kind}-pool`,
    kind,
    minWorkers: workers,
    maxWorkers: workers,
    spareWorkers: 0,
    requestsPerWorker: requireInteger('perWorker', options.perWorker ?? 1, 1),
    maxRequestsPerWorker: Number.POSITIVE_INFINITY,
    idleWorkerTimeoutMs: undefined,
    ...resolveWorkerStrategyOptions(options),
  });
}
