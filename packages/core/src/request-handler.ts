import type { Socket } from 'node:net';
import type { ClientAddress } from './client-address.js';

/**
 * What a request handler sees of the server that runs it. In the main thread it is the
 * server itself; a strategy that runs handlers elsewhere (a worker thread, a child
 * process) provides a stand-in with the same fields, so handlers never learn where they run.
 */
export interface HandlerServer {
  /** The address the server listens on, `[host, port]`, after binding. */
  readonly serverAddress: readonly [host: string, port: number];
  /**
   * Options for the handler class, set with the server's `handlerOptions`. A plain,
   * structured-clonable record, so it can be sent to another thread or process.
   */
  readonly handlerOptions: Readonly<Record<string, unknown>>;
}

/**
 * The handler contract, Python's BaseRequestHandler shape: the server builds one handler per
 * connection and runs `setup`, then `handle`; `finish` always runs, even when `handle` throws.
 */
export interface RequestHandler {
  setup(): void | Promise<void>;
  handle(): void | Promise<void>;
  finish(): void | Promise<void>;
}

/**
 * A request handler class. Handlers are named by class, never by closure, so another thread
 * or process can rebuild one from a module specifier and an export name.
 */
export type RequestHandlerClass = new (
  request: Socket,
  clientAddress: ClientAddress,
  server: HandlerServer,
) => RequestHandler;

/**
 * Build the handler and run it: `setup`, `handle`, and `finish` always. If both `handle` (or
 * `setup`) and `finish` fail, the first failure is raised with the second attached, as a
 * `SuppressedError`, so neither is lost.
 */
export async function runRequestHandler(
  RequestHandlerClass: RequestHandlerClass,
  request: Socket,
  clientAddress: ClientAddress,
  server: HandlerServer,
): Promise<void> {
  const handler = new RequestHandlerClass(request, clientAddress, server);
  let failure: { error: unknown } | undefined;
  try {
    await handler.setup();
    await handler.handle();
  } catch (error) {
    failure = { error };
  }
  try {
    await handler.finish();
  } catch (error) {
    if (failure === undefined) throw error;
    throw new SuppressedError(error, failure.error, 'finish() failed after handle() failed');
  }
  if (failure !== undefined) throw failure.error;
}
