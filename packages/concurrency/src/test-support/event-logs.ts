import { EventEmitter, once } from 'node:events';
import type { ConnectionState, ConnectionStateEvent, DropEvent, TCPServer } from '@socketserver/core';
import type { WorkerPoolEvents } from '@socketserver/concurrency';
import { waitMs } from './recording-server.js';

/** Lists of what happened, and a bounded wait for a condition on them, checked after every change. */
abstract class EventLog {
  readonly #changes = new EventEmitter();

  /** Resolves once `isDone()` holds, checked after every change; rejects after `waitMs`, naming `what`. */
  async waitUntil(isDone: () => boolean, what: string): Promise<void> {
    const signal = AbortSignal.timeout(waitMs);
    while (!isDone()) {
      try {
        await once(this.#changes, 'change', { signal });
      } catch {
        throw new Error(`timed out after ${waitMs} ms waiting for ${what}`);
      }
    }
  }

  protected record<T>(list: T[], item: T): void {
    list.push(item);
    this.#changes.emit('change');
  }
}

/**
 * Every worker a strategy started and saw exit. Made before the strategy is given to a server:
 * a pool whose workers accept connections starts them in the server's constructor.
 */
export class WorkerLog extends EventLog {
  readonly startedWorkerIds: number[] = [];
  readonly exitedWorkerIds: number[] = [];

  constructor(strategy: EventEmitter<WorkerPoolEvents>) {
    super();
    strategy.on('workerStart', (id) => this.record(this.startedWorkerIds, id));
    strategy.on('workerExit', (id) => this.record(this.exitedWorkerIds, id));
  }
}

/** The port of an IPv4 or IPv6 client address; `undefined` for a Unix one. */
function portOf({
  clientAddress,
}: {
  clientAddress: ConnectionStateEvent['clientAddress'];
}): number | undefined {
  return clientAddress.family === 'Unix' ? undefined : clientAddress.port;
}

/**
 * Every `connectionState` and `drop` event of a stream server, recorded from construction on, so a
 * test waits for one that may have come before it started waiting.
 */
export class ServerEventLog extends EventLog {
  readonly states: ConnectionStateEvent[] = [];
  readonly drops: DropEvent[] = [];

  constructor(server: TCPServer) {
    super();
    server.on('connectionState', (event) => this.record(this.states, event));
    server.on('drop', (event) => this.record(this.drops, event));
  }

  /** The states the connection of the client on `port` went through, in order. */
  statesOf(port: number): ConnectionState[] {
    return this.states.filter((event) => portOf(event) === port).map(({ state }) => state);
  }

  /** Why the connection of the client on `port` was dropped, once per drop. */
  dropsOf(port: number): DropEvent['reason'][] {
    return this.drops.filter((event) => portOf(event) === port).map(({ reason }) => reason);
  }

  /** Resolves once the client on `port` has reached `state`; rejects after `waitMs`. */
  async waitForState(port: number, state: ConnectionState): Promise<void> {
    await this.waitUntil(
      () => this.statesOf(port).includes(state),
      `${state} for the client on port ${port}`,
    );
  }
}
