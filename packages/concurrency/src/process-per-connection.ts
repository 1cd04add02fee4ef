import type { Socket } from 'node:net';
import { InvalidOptionError } from '@socketserver/core';
import { requireBoolean, requireDelayMs, requireInteger } from '@socketserver/core/strategy';
import { resolveWorkerStrategyOptions, WorkerPool, type WorkerStrategyOptions } from './worker-pool.js';

/** Options of {@link forking}. */
export interface ForkingOptions extends WorkerStrategyOptions {
  /**
   * Child processes at most, an integer >= 1, counting those starting and those exiting until they
   * are reaped; Python's `max_children`. Connections beyond it wait in the accept queue. Default 40.
   */
  maxChildren?: number;
  /**
   * Idle children kept started and ready, an integer from 0 to `maxChildren`, so that a connection
   * does not wait for a Node start-up. 0: start each child when its connection comes. Default 1.
   */
  spareChildren?: number;
  /**
   * `false` (the default): a child serves one connection and exits, as with Python's `fork`.
   * `true`: a child serves later connections too, one at a time.
   */
  reuseChildren?: boolean;
  /**
   * With `reuseChildren`, retire a child that has served nothing for this long, in ms (0 to
   * 2^31 - 1), keeping `spareChildren`. Without it, unused. How long an idle child is kept, not a
   * timeout that fails anything: `0` retires a surplus child as soon as its connection ends (it is
   * not "never"). Default 10 000.
   */
  idleChildTimeoutMs?: number;
}

/**
 * Python's ForkingMixIn: each connection is served by a child process, at most `maxChildren` at
 * once. The accepted socket (TCP or Unix stream) is handed to the child, and the parent closes its
 * copy once the child has acknowledged it. Spare children are started ahead of demand; children
 * are reaped as they exit. `spareChildren` children (at least one) start with the server and load
 * the handler there.
 *
 * On a datagram server (`Request` is then `DatagramRequest`), each datagram is served by a child
 * the same way: the child gets a copy of the bytes, and its replies are sent through the server's
 * socket. A child per datagram costs a Node start-up per datagram; `reuseChildren` avoids it.
 */
export function forking<Request = Socket>(options: ForkingOptions = {}): WorkerPool<Request> {
  const maxChildren = requireInteger('maxChildren', options.maxChildren ?? 40, 1);
  const spareChildren = requireInteger('spareChildren', options.spareChildren ?? 1, 0);
  if (spareChildren > maxChildren) {
    throw new InvalidOptionError('spareChildren', spareChildren, `at most maxChildren (${maxChildren})`);
  }
  const reuseChildren = requireBoolean('reuseChildren', options.reuseChildren ?? false);
  const idleChildTimeoutMs = requireDelayMs('idleChildTimeoutMs', options.idleChildTimeoutMs ?? 10_000);
  return new WorkerPool<Request>({
    name: 'forking',
    kind: 'process',
    minWorkers: 0,
    maxWorkers: maxChildren,
    spareWorkers: spareChildren,
    requestsPerWorker: 1,
    maxRequestsPerWorker: reuseChildren ? Number.POSITIVE_INFINITY : 1,
    idleWorkerTimeoutMs: reuseChildren ? idleChildTimeoutMs : undefined,
    accept: 'main',
    ...resolveWorkerStrategyOptions(options),
  });
}
