import { EventEmitter, once } from 'node:events';
import type { Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import type { ClientAddress } from '../support/client-address.js';
import type { RequestHandlerClass } from '../request/request-handler.js';
import type { ServerAddress } from '../platform/server-address.js';
import { TCPServer, type TCPServerOptions } from '../servers/tcp-server.js';
import { eventLoopStrategy } from '../strategy/event-loop-strategy.js';

export interface RecordedError {
  readonly clientAddress: ClientAddress;
  readonly error: unknown;
}

/** A TCPServer that records what `handleError` receives instead of printing it. */
export class RecordingServer extends TCPServer {
  readonly errors: RecordedError[] = [];
  readonly events: EventEmitter = new EventEmitter();

  override handleError(_request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.errors.push({ clientAddress, error });
    this.events.emit('error-handled', error);
  }

  /** Resolves once `count` errors have been handled, or rejects after `timeoutMs`. */
  async waitForErrors(count: number, timeoutMs = 5000): Promise<RecordedError[]> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (this.errors.length < count) await once(this.events, 'error-handled', { signal });
    return this.errors;
  }
}

/** Start a recording server on an ephemeral loopback port; closed when the test finishes. */
export function startServer(
  Handler: RequestHandlerClass,
  options: TCPServerOptions = {},
  address: ServerAddress = ['127.0.0.1', 0],
): { server: RecordingServer; serving: Promise<void> } {
  const server = new RecordingServer(address, Handler, { strategy: eventLoopStrategy(), ...options });
  onTestFinished(() => server.serverClose());
  const serving = server.serveForever();
  // Awaited by the tests that care; a failure still surfaces there, not as an unhandled rejection.
  serving.catch(() => {});
  return { server, serving };
}

/** A promise with its resolver, for a handler to signal a test (and be released by it). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
