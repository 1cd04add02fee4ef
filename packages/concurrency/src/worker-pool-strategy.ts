import type { Socket } from 'node:net';
import { InvalidOptionError } from '@socketserver/core';
import { requireInteger } from '@socketserver/core/strategy';
import type { WorkerKind } from './worker-handle.js';
import { resolveWorkerStrategyOptions, WorkerPool, type WorkerStrategyOptions } from './worker-pool.js';

/** Options of {@link pool}. */
export interface PoolOptions extends WorkerStrategyOptions {
  /** Workers, an integer >= 1, all started by the server before its first accept; the recipe's `NWORKERS`. Default 16. */
  workers?: number;
  /** `'thread'` (the default): worker threads of this process. `'process'`: child processes. */
  kind?: WorkerKind;
  /**
   * Requests (connections, or datagrams) one worker serves at once, an integer >= 1, interleaved
   * on its event loop. The server serves `workers * requestsPerWorker` at once; other connections
   * wait in its accept queue. Default 1, as the recipe's threads that each run `serve_forever`.
   */
  requestsPerWorker?: number;
  /**
   * Who accepts connections on a TCP server. Default: `'workers'` when `requestsPerWorker` is above 1,
   * `'main'` for one connection per worker (see the package README for the measurements).
   * - `'main'`: the server accepts every connection on the main thread and hands it
   *   to the least busy worker with a free slot, so a connection waits for whichever worker frees
   *   one first. The server listens from its construction, as Python's, and `handleRequest()`
   *   works.
   * - `'workers'`: each worker accepts from the listening socket itself, so no connection passes
   *   through the main thread (child processes inherit the socket; threads each bind their own to
   *   the address with SO_REUSEPORT, on Linux and FreeBSD). Faster where the main thread's
   *   hand-off is the limit (short connections, many workers). The workers listen when the server
   *   activates, and `listening` resolves once they do (connect after it); a connection waits in
   *   the worker that accepted it for one of its `requestsPerWorker` slots; `handleRequest()` is refused.
   *   The server accepts on the main thread anyway where workers cannot keep its promises (see
   *   `ConcurrencyStrategy.acceptsConnections`).
   */
  accept?: 'workers' | 'main';
}

/**
 * The recipe's pre-allocated pool: a fixed set of workers, threads or processes, started with the
 * server, each serving `requestsPerWorker` requests at a time. With `accept: 'main'` each connection
 * goes to the least busy worker; with `accept: 'workers'` each worker accepts its own. A worker
 * that dies is replaced; only its own connections are lost.
 *
 * On a datagram server (`Request` is then `DatagramRequest`), each datagram goes to the least busy
 * worker with a copy of its bytes, and the worker's replies are sent through the server's socket.
 * Threads cannot serve a `UnixStreamServer` (Node moves only TCP sockets to worker threads): use
 * `kind: 'process'` there.
 */
export function pool<Request = Socket>(options: PoolOptions = {}): WorkerPool<Request> {
  const workers = requireInteger('workers', options.workers ?? 16, 1);
  const kind = options.kind ?? 'thread';
  const requestsPerWorker = requireInteger('requestsPerWorker', options.requestsPerWorker ?? 1, 1);
  if (kind !== 'thread' && kind !== 'process') {
    throw new InvalidOptionError('kind', kind, "'thread' or 'process'");
  }
  return new WorkerPool<Request>({
    name: `${kind}-pool`,
    kind,
    minWorkers: workers,
    maxWorkers: workers,
    spareWorkers: 0,
    requestsPerWorker,
    maxRequestsPerWorker: Number.POSITIVE_INFINITY,
    idleWorkerTimeoutMs: undefined,
    accept: requireAccept(options.accept ?? (requestsPerWorker > 1 ? 'workers' : 'main')),
    ...resolveWorkerStrategyOptions(options),
  });
}

function requireAccept(accept: unknown): 'workers' | 'main' {
  if (accept !== 'workers' && accept !== 'main') {
    throw new InvalidOptionError('accept', accept, "'workers' or 'main'");
  }
  return accept;
}
