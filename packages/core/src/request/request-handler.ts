import type { Socket } from 'node:net';
import type { ClientAddress } from '../support/client-address.js';
import { requestChannel, type RequestMessage } from './diagnostics.js';
import { HandlerLoadError, HandlerNotLocatableError } from '../support/errors.js';
import { printable } from '../support/printable.js';

/**
 * What a request handler sees of the server that runs it. In the main thread it is the
 * server itself; a strategy that runs handlers elsewhere (a worker thread, a child
 * process) provides a stand-in with the same fields, so handlers never learn where they run.
 */
export interface HandlerServer {
  /** The address the server listens on after binding: `[host, port]`, or a Unix socket path. */
  readonly serverAddress: readonly [host: string, port: number] | string;
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
  /** Runs before `handle()`. */
  setup(): void | Promise<void>;
  /** Serves the request. */
  handle(): void | Promise<void>;
  /** Runs after `handle()`, even when `setup()` or `handle()` threw. */
  finish(): void | Promise<void>;
  /**
   * Runs last, after `finish()`, whatever happened, before the server ends the request: where a
   * handler hands over what it still holds (the handlers package's writers send the bytes they
   * gathered). Optional.
   */
  [Symbol.dispose]?(): void;
}

/**
 * A request handler class. Handlers are named by class, never by closure, so another thread or
 * process can rebuild one from a module and an export name. A class that may run off the main
 * thread says where it lives: `static moduleURL = import.meta.url`, exported under its class name
 * (or under `static exportName`).
 *
 * `Request` is what one request is: a connected `Socket` for stream servers, a
 * `DatagramRequest` (`[data, socket]`) for datagram servers.
 */
export type RequestHandlerClass<Request = Socket> = (new (
  request: Request,
  clientAddress: ClientAddress,
  server: HandlerServer,
) => RequestHandler) & {
  /** The URL of the module that exports this class: `import.meta.url` in that module. */
  readonly moduleURL?: string;
  /** The name the module exports it under. Default: the class's name. */
  readonly exportName?: string;
};

/** Where a handler class can be imported from: what crosses to a worker instead of the class. */
export interface HandlerLocation {
  /** The URL of the module that exports the handler class. */
  readonly moduleURL: string;
  /** The name the module exports the class under. */
  readonly exportName: string;
}

/**
 * Build the handler and run it: `setup`, `handle`, and `finish` always. If both `handle` (or
 * `setup`) and `finish` fail, the first failure is raised with the second attached, as a
 * `SuppressedError`, so neither is lost. Traced on the `socketserver:request` TracingChannel
 * while anyone subscribes to it.
 */
export function runRequestHandler<Request>(
  RequestHandlerClass: RequestHandlerClass<Request>,
  request: Request,
  clientAddress: ClientAddress,
  server: HandlerServer,
): Promise<void> {
  if (!requestChannel.hasSubscribers) return runHandler(RequestHandlerClass, request, clientAddress, server);
  const context: RequestMessage = {
    request,
    clientAddress,
    server,
    RequestHandlerClass,
  };
  return requestChannel.tracePromise(
    () => runHandler(RequestHandlerClass, request, clientAddress, server),
    context,
  );
}

/** {@link runRequestHandler} untraced. */
function runHandler<Request>(
  RequestHandlerClass: RequestHandlerClass<Request>,
  request: Request,
  clientAddress: ClientAddress,
  server: HandlerServer,
): Promise<void> {
  // A promise chain, not an async function: while `handle()` waits, which is most of a
  // connection's life, the chain holds one reaction where an async function holds a whole frame.
  let handler: RequestHandler;
  try {
    handler = new RequestHandlerClass(request, clientAddress, server);
  } catch (error) {
    return rejectWith(error);
  }
  return startRequestHandler(handler).then(
    () => finishRequestHandler(handler, undefined, false),
    (error: unknown) => finishRequestHandler(handler, error, true),
  );
}

/** `setup()`, then `handle()`: the promise of both, a synchronous throw as a rejection. */
export function startRequestHandler(handler: RequestHandler): Promise<void> {
  try {
    const setUp = handler.setup();
    // Anything setup() returns is awaited, a thenable of another realm included.
    return setUp === undefined
      ? Promise.resolve(handler.handle())
      : Promise.resolve(setUp).then(() => handler.handle());
  } catch (error) {
    return rejectWith(error);
  }
}

/**
 * `finish()`, after `setup()` and `handle()` succeeded or (`hasFailed`) failed with `failure`:
 * then it rejects with that failure, or, if `finish()` fails too, with a `SuppressedError`
 * holding both. Then, whatever happened, the handler's `[Symbol.dispose]()`, if it has one.
 *
 * After a success, a `finish()` that returns nothing (the default) is done here and now: then it
 * returns `undefined` (or throws what `finish()` or `[Symbol.dispose]()` threw), so that a request
 * ends without a promise turn for it; otherwise it returns the promise of both.
 */
export function finishRequestHandler(
  handler: RequestHandler,
  failure: unknown,
  hasFailed: boolean,
): Promise<void> | undefined {
  if (hasFailed) return finishAfterFailure(handler, failure);
  let finished: void | Promise<void> = undefined;
  try {
    finished = handler.finish();
  } finally {
    if (finished === undefined) handler[Symbol.dispose]?.();
  }
  if (finished === undefined) return undefined;
  // Anything finish() returns is awaited, a thenable of another realm included.
  return Promise.resolve(finished).finally(() => handler[Symbol.dispose]?.());
}

/** {@link finishRequestHandler} after `setup()` or `handle()` failed with `failure`. */
async function finishAfterFailure(handler: RequestHandler, failure: unknown): Promise<never> {
  try {
    try {
      await handler.finish();
    } catch (error) {
      throw new SuppressedError(error, failure, 'finish() failed after handle() failed');
    }
    throw failure;
  } finally {
    handler[Symbol.dispose]?.();
  }
}

/** A rejected promise for something thrown, whatever it is. */
export function rejectWith(thrown: unknown): Promise<never> {
  const failure = thrown as Error; // not always an Error: a handler may throw anything
  return Promise.reject(failure);
}

/** Where a handler class lives, or ERR_HANDLER_NOT_LOCATABLE with what to add to it. */
export function locateRequestHandler<Request>(
  RequestHandlerClass: RequestHandlerClass<Request>,
): HandlerLocation {
  const { moduleURL, name } = RequestHandlerClass;
  const exportName = RequestHandlerClass.exportName ?? name;
  if (typeof moduleURL !== 'string' || moduleURL === '' || exportName === '') {
    throw new HandlerNotLocatableError(
      `${name || 'the handler class'} cannot run in another thread or process: export it from a module ` +
        'and give it `static moduleURL = import.meta.url`',
    );
  }
  return { moduleURL, exportName };
}

/** Import a handler class from its location (in a worker); ERR_HANDLER_LOAD_FAILED if it can't be. */
export async function loadRequestHandler<Request = Socket>(
  location: HandlerLocation,
): Promise<RequestHandlerClass<Request>> {
  const where = printable(`${location.exportName} from ${location.moduleURL}`);
  let module: Record<string, unknown>;
  try {
    module = (await import(location.moduleURL)) as Record<string, unknown>;
  } catch (error) {
    throw new HandlerLoadError(`cannot load ${where}: ${printable(String(error))}`, {
      cause: error,
    });
  }
  const exported = module[location.exportName];
  if (typeof exported !== 'function') {
    throw new HandlerLoadError(`cannot load ${where}: the module has no such export`);
  }
  return exported as RequestHandlerClass<Request>;
}
