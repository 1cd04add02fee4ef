import type { Socket } from 'node:net';
import { requireDelayMs, requireInteger } from '@socketserver/core/strategy';
import { resolveWorkerStrategyOptions, WorkerPool, type WorkerStrategyOptions } from './worker-pool.js';

/** Options of {@link threading}. */
export interface ThreadingOptions extends WorkerStrategyOptions {
  /**
   * Handler threads at most, an integer >= 1: the server serves this many connections at once and
   * keeps further ones waiting in its accept queue. Python's ThreadingMixIn has no cap; one is kept
   * here so a burst of clients cannot start threads without bound. Default 64.
   */
  maxThreads?: number;
  /**
   * Retire a thread that has served nothing for this long, in ms (0 to 2^31 - 1); an idle thread
   * is reused by the next connection until then. How long an idle thread is kept, not a timeout
   * that fails anything: `0` retires a thread as soon as its connection ends (it is not "never"), so
   * every connection starts a thread. Default 10 000.
   */
  idleThreadTimeoutMs?: number;
}

/**
 * Python's ThreadingMixIn: each connection is served by a worker thread of its own, with the
 * accepted socket moved to that thread. Threads are started on demand, up to `maxThreads`, and an
 * idle one is reused before another is started. One thread is started, and loads the handler,
 * when the server starts, so a handler that cannot run in a thread fails there.
 *
 * On a datagram server (`UDPServer`, `UnixDatagramServer`; `Request` is then `DatagramRequest`),
 * each datagram is served by a thread the same way: the thread gets a copy of the bytes, and its
 * replies are sent through the server's socket. On a `UnixStreamServer` the server's start rejects
 * with ERR_UNSUPPORTED_OPTION: Node moves only TCP sockets to worker threads.
 */
export function threading<Request = Socket>(options: ThreadingOptions = {}): WorkerPool<Request> {
  return new WorkerPool<Request>({
    name: 'threading',
    kind: 'thread',
    minWorkers: 0,
    maxWorkers: requireInteger('maxThreads', options.maxThreads ?? 64, 1),
    spareWorkers: 0,
    requestsPerWorker: 1,
    maxRequestsPerWorker: Number.POSITIVE_INFINITY,
    idleWorkerTimeoutMs: requireDelayMs('idleThreadTimeoutMs', options.idleThreadTimeoutMs ?? 10_000),
    accept: 'main',
    ...resolveWorkerStrategyOptions(options),
  });
}
