import type { Socket } from 'node:net';
import { ChangeSignal } from '../support/change-signal.js';
import type { ClientAddress } from '../support/client-address.js';

/**
 * `new`: accepted, waiting in the accept queue for a free slot (nothing read yet);
 * `active`: its request is being processed; `closed`: gone, about to leave the registry.
 */
export type ConnectionState = 'new' | 'active' | 'closed';

/** One accepted connection, from accept until its request has finished. */
export interface Connection {
  /** The accepted socket. */
  readonly socket: Socket;
  /** The peer of the connection. */
  readonly clientAddress: ClientAddress;
  /** `new` while in the accept queue, `active` while served, then `closed`. */
  state: ConnectionState;
}

/**
 * The server's single source of truth about its connections: the accept queue (state `new`),
 * the requests running (state `active`), and a change signal that the accept loop, the
 * `maxConnections` check and the shutdown drain wait on, instead of polling.
 */
export class ConnectionRegistry {
  readonly #connections = new Map<Socket, Connection>();
  readonly #waiting: Connection[] = [];
  #activeCount = 0;
  readonly #changes = new ChangeSignal();
  /**
   * Woken only when a connection may have become takeable: one was queued, or an active one ended
   * while others wait for its slot. The accept loop waits on it, so the end of every request does
   * not wake it for nothing.
   */
  readonly #takeable = new ChangeSignal();

  /** Connections accepted and not yet finished, waiting or active. */
  get size(): number {
    return this.#connections.size;
  }

  /** Requests being processed. */
  get activeCount(): number {
    return this.#activeCount;
  }

  /** Connections in the accept queue. */
  get waitingCount(): number {
    return this.#connections.size - this.#activeCount;
  }

  /** Queue a newly accepted connection. */
  add(socket: Socket, clientAddress: ClientAddress): Connection {
    const connection: Connection = { socket, clientAddress, state: 'new' };
    this.#connections.set(socket, connection);
    this.#waiting.push(connection);
    this.#changes.notify();
    this.#takeable.notify();
    return connection;
  }

  /** The connection of an accepted socket, if the registry still has it. */
  get(socket: Socket): Connection | undefined {
    return this.#connections.get(socket);
  }

  /** Take the oldest waiting connection and mark it active. */
  takeNext(): Connection | undefined {
    for (let next = this.#waiting.shift(); next !== undefined; next = this.#waiting.shift()) {
      if (next.state !== 'new') continue;
      next.state = 'active';
      this.#activeCount += 1;
      return next;
    }
    return undefined;
  }

  /** Forget a connection: its request finished, or it closed while waiting. */
  delete(socket: Socket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined) return;
    const wasActive = connection.state === 'active';
    if (wasActive) this.#activeCount -= 1;
    connection.state = 'closed';
    this.#connections.delete(socket);
    // Only a waiting connection is in the queue: a served one is not looked for there.
    if (!wasActive) {
      const index = this.#waiting.indexOf(connection);
      if (index !== -1) this.#waiting.splice(index, 1);
    }
    this.#changes.notify();
    if (wasActive && this.#waiting.length > 0) this.#takeable.notify();
  }

  /** Every connection in a given state. */
  inState(state: ConnectionState): Connection[] {
    return [...this.#connections.values()].filter((connection) => connection.state === state);
  }

  /** Resolves on the next add or delete, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void> {
    return this.#changes.changed(signal);
  }

  /**
   * Resolves when a connection may have become takeable by {@link ConnectionRegistry.takeNext}: on
   * the next add, or the next end of an active connection while others wait (its slot is free), or
   * when `signal` aborts. What an accept loop waits on: the end of a request that frees a slot
   * nobody waits for does not wake it.
   */
  takeable(signal: AbortSignal): Promise<void> {
    return this.#takeable.changed(signal);
  }

  /** Resolves once no connection is left, or when `signal` aborts. */
  async whenEmpty(signal: AbortSignal): Promise<void> {
    while (this.#connections.size > 0 && !signal.aborted) await this.changed(signal);
  }
}
