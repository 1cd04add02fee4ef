import type { Socket } from 'node:net';
import type { ConcurrencyStrategy } from './strategy.js';
import { InThreadStrategy } from './in-thread-strategy.js';

/**
 * Every connection concurrently on this thread's event loop: the Node way. Bound it with the
 * server's `maxConnections`.
 */
export function eventLoopStrategy<Request = Socket>(): ConcurrencyStrategy<Request> {
  return new InThreadStrategy('async', Number.POSITIVE_INFINITY);
}
