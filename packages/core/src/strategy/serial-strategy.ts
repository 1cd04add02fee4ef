import type { Socket } from 'node:net';
import type { ConcurrencyStrategy } from './strategy.js';
import { InThreadStrategy } from './in-thread-strategy.js';

/** Python's TCPServer: one request at a time; the others wait in the server's accept queue. */
export function serialStrategy<Request = Socket>(): ConcurrencyStrategy<Request> {
  return new InThreadStrategy('serial', 1);
}
