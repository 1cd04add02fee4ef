import { EventEmitter, once } from 'node:events';
import type { Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import {
  TCPServer,
  eventLoopStrategy,
  type ClientAddress,
  type RequestHandlerClass,
} from '@socketserver/core';

/** Bound, in ms, of every wait on the test's side. */
export const waitMs = 10_000;

/** A TCPServer that records what reaches `handleError` instead of printing it. */
export class RecordingServer extends TCPServer {
  /** Every error reported, in order. */
  readonly errors: unknown[] = [];
  readonly #reported = new EventEmitter();

  override handleError(_request: Socket | undefined, _clientAddress: ClientAddress, error: unknown): void {
    this.errors.push(error);
    this.#reported.emit('reported');
  }

  /** Resolves once `count` errors have been reported in all, with them. */
  async waitForErrors(count: number): Promise<unknown[]> {
    const signal = AbortSignal.timeout(waitMs);
    while (this.errors.length < count) await once(this.#reported, 'reported', { signal });
    return this.errors;
  }
}

/**
 * Serves `Handler` on an ephemeral loopback port with the event-loop strategy, until the test
 * finishes; the server is closed then.
 */
export async function startTestServer(
  Handler: RequestHandlerClass,
  options: { host?: string; handlerOptions?: Readonly<Record<string, unknown>> } = {},
): Promise<RecordingServer> {
  const server = new RecordingServer([options.host ?? '127.0.0.1', 0], Handler, {
    strategy: eventLoopStrategy(),
    handlerOptions: options.handlerOptions ?? {},
  });
  const serving = server.listening.then(() => server.serveForever());
  onTestFinished(async () => {
    await server.serverClose();
    await serving;
  });
  await server.listening;
  return server;
}

/** Codes of the errors reported, for `expect`. */
export function codesOf(errors: readonly unknown[]): unknown[] {
  return errors.map((error) => (error as { code?: unknown }).code);
}
