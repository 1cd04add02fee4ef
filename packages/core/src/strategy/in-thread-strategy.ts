import type { Socket } from 'node:net';
import type { ClientAddress } from '../support/client-address.js';
import type { ConcurrencyStrategy, StrategyContext } from './strategy.js';
import { ServerStateError } from '../support/errors.js';

/**
 * Runs every request on this thread's event loop; what differs between the serial and the
 * event-loop strategies is only how many run at once. The server tracks each request until
 * its promise settles, so drain and close have nothing of their own to wait for.
 */
export class InThreadStrategy<Request = Socket> implements ConcurrencyStrategy<Request> {
  readonly name: string;
  readonly maxConcurrentRequests: number;
  #context: StrategyContext<Request> | undefined;

  constructor(name: string, maxConcurrentRequests: number) {
    this.name = name;
    this.maxConcurrentRequests = maxConcurrentRequests;
  }

  start(context: StrategyContext<Request>): Promise<void> {
    this.#context = context;
    return Promise.resolve();
  }

  /**
   * Whether `processRequest` only calls `context.serveRequest` (see
   * `ConcurrencyStrategy.servesInThread`): this class's own does; a subclass's override may do more.
   */
  get servesInThread(): boolean {
    return this.processRequest === InThreadStrategy.prototype.processRequest;
  }

  processRequest(request: Request, clientAddress: ClientAddress): Promise<void> {
    if (this.#context === undefined) {
      return Promise.reject(new ServerStateError(`the ${this.name} strategy was not started`));
    }
    return this.#context.serveRequest(request, clientAddress);
  }

  drain(_signal: AbortSignal): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
