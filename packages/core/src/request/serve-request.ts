import type { Socket } from 'node:net';
import type { ClientAddress } from '../support/client-address.js';
import { requestChannel } from './diagnostics.js';
import { IdleTimeoutError } from '../support/errors.js';
import {
  finishRequestHandler,
  rejectWith,
  runRequestHandler,
  startRequestHandler,
  type HandlerServer,
  type RequestHandler,
  type RequestHandlerClass,
} from './request-handler.js';

/** The template steps one request goes through; the server's overridable methods, or defaults. */
export interface RequestSteps {
  /** Build the handler and run it (setup, handle, finish). */
  finishRequest(request: Socket, clientAddress: ClientAddress): Promise<void>;
  /** End the request: half-close, then release the socket. */
  shutdownRequest(request: Socket): Promise<void>;
  /** Report a failure of this request, as `handleError`. */
  reportError(request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void;
}

/** The steps that end a request: what {@link serveRequestHandler} needs, which runs the handler itself. */
export type EndingSteps = Pick<RequestSteps, 'shutdownRequest' | 'reportError'>;

/**
 * Serve one request wherever it runs, Python's `process_request_thread`: `finishRequest`, a
 * failure reported once, `shutdownRequest` always. With `idleTimeoutMs`, a connection that sends
 * nothing for that long is reported (ERR_IDLE_TIMEOUT) and closed; the handler's own failure on
 * the closed socket is then not reported again. Never rejects.
 */
export function serveRequest(
  request: Socket,
  clientAddress: ClientAddress,
  steps: RequestSteps,
  idleTimeoutMs: number | undefined,
): Promise<void> {
  const idle = watchIdle(request, clientAddress, steps, idleTimeoutMs);
  // A promise chain, not an async function, for the memory of idle connections (see
  // runRequestHandler): finishRequest, its failure reported unless the idle timeout caused it,
  // then shutdownRequest whatever happened.
  let finishing: Promise<void>;
  try {
    finishing = steps.finishRequest(request, clientAddress);
  } catch (error) {
    finishing = rejectWith(error);
  }
  return finishing.then(
    () => shutDown(request, clientAddress, steps, idle),
    (error: unknown) => {
      if (idle?.hasTimedOut !== true) steps.reportError(request, clientAddress, error);
      return shutDown(request, clientAddress, steps, idle);
    },
  );
}

/**
 * {@link serveRequest} with `finishRequest` being {@link runRequestHandler}, fused into one promise
 * chain: while the handler waits, the request holds one reaction instead of two (a connection
 * mostly waits, so this is the memory of an idle connection). It needs no `finishRequest` step.
 * `onEnd`, if given, is called with the socket once the request has ended, after
 * `shutdownRequest`: a callback shared by all requests costs nothing per request, where chaining
 * on the returned promise would. Never rejects.
 */
export function serveRequestHandler(
  request: Socket,
  clientAddress: ClientAddress,
  steps: EndingSteps,
  idleTimeoutMs: number | undefined,
  RequestHandlerClass: RequestHandlerClass,
  server: HandlerServer,
  onEnd?: (request: Socket) => void,
): Promise<void> {
  // Traced, the handler runs through runRequestHandler, which publishes its events: the same
  // steps, two reactions instead of one.
  if (requestChannel.hasSubscribers) {
    const finishRequest = (socket: Socket, client: ClientAddress): Promise<void> =>
      runRequestHandler(RequestHandlerClass, socket, client, server);
    const served = serveRequest(request, clientAddress, { ...steps, finishRequest }, idleTimeoutMs);
    return onEnd === undefined ? served : served.then(() => onEnd(request));
  }
  const idle = watchIdle(request, clientAddress, steps, idleTimeoutMs);
  const ending: RequestEnding = { request, clientAddress, steps, idle, onEnd };
  let handler: RequestHandler;
  try {
    handler = new RequestHandlerClass(request, clientAddress, server);
  } catch (error) {
    return endRequestHandler(ending, undefined, error, true);
  }
  return startRequestHandler(handler).then(
    () => endRequestHandler(ending, handler, undefined, false),
    (error: unknown) => endRequestHandler(ending, handler, error, true),
  );
}

/** What ends a request served by {@link serveRequestHandler}. */
interface RequestEnding {
  readonly request: Socket;
  readonly clientAddress: ClientAddress;
  readonly steps: EndingSteps;
  readonly idle: IdleWatch | undefined;
  readonly onEnd: ((request: Socket) => void) | undefined;
}

/**
 * `finish()`, its failure or the handler's reported (unless the idle timeout caused it), then the
 * shutdown. Not an async function: a `finish()` that returns nothing (the default) goes straight
 * on to the shutdown, without a promise turn for it.
 */
function endRequestHandler(
  ending: RequestEnding,
  handler: RequestHandler | undefined,
  failure: unknown,
  hasFailed: boolean,
): Promise<void> {
  let finishing: Promise<void> | undefined;
  try {
    if (handler === undefined) {
      if (hasFailed) throw failure;
    } else finishing = finishRequestHandler(handler, failure, hasFailed);
  } catch (error) {
    reportEndingError(ending, error);
  }
  if (finishing === undefined) return shutDownEnding(ending);
  return finishing.then(
    () => shutDownEnding(ending),
    (error: unknown) => {
      reportEndingError(ending, error);
      return shutDownEnding(ending);
    },
  );
}

/** Report the failure of a request ending, unless its idle timeout caused it. */
function reportEndingError({ request, clientAddress, steps, idle }: RequestEnding, error: unknown): void {
  if (idle?.hasTimedOut !== true) steps.reportError(request, clientAddress, error);
}

/** The shutdown of a request ending, then `onEnd`. */
function shutDownEnding({ request, clientAddress, steps, idle, onEnd }: RequestEnding): Promise<void> {
  const shuttingDown = shutDown(request, clientAddress, steps, idle);
  // shutDown never rejects, so onEnd, which the server counts on to know the request ended, always runs.
  return onEnd === undefined ? shuttingDown : shuttingDown.then(() => onEnd(request));
}

/** What the idle timer of one request saw. */
interface IdleWatch {
  hasTimedOut: boolean;
  readonly onIdle: () => void;
}

/** Arm the idle timeout of a request, if there is one (`undefined` or 0: none). */
function watchIdle(
  request: Socket,
  clientAddress: ClientAddress,
  steps: EndingSteps,
  idleTimeoutMs: number | undefined,
): IdleWatch | undefined {
  // 0 as well: the server's `idleTimeoutMs` field may be set after construction, unchecked.
  if (idleTimeoutMs === undefined || idleTimeoutMs === 0) return undefined;
  const watch: IdleWatch = {
    hasTimedOut: false,
    onIdle: () => {
      watch.hasTimedOut = true;
      steps.reportError(request, clientAddress, new IdleTimeoutError(idleTimeoutMs));
      request.destroy();
    },
  };
  request.setTimeout(idleTimeoutMs, watch.onIdle);
  return watch;
}

/** Disarm the idle timer, then `shutdownRequest`, its failure reported; never rejects. */
function shutDown(
  request: Socket,
  clientAddress: ClientAddress,
  steps: EndingSteps,
  idle: IdleWatch | undefined,
): Promise<void> {
  if (idle !== undefined) {
    request.setTimeout(0);
    request.off('timeout', idle.onIdle);
  }
  let shuttingDown: Promise<void>;
  try {
    shuttingDown = steps.shutdownRequest(request);
  } catch (error) {
    shuttingDown = rejectWith(error);
  }
  return shuttingDown.catch((error: unknown) => {
    steps.reportError(request, clientAddress, error);
    request.destroy();
  });
}

/**
 * Half-close the write side so the peer reads everything written, then a clean EOF; waits until
 * it is flushed, at most `timeoutMs`. Never rejects: the caller releases the socket afterwards,
 * whether it was flushed, failed, or was closed meanwhile.
 */
export function endRequest(request: Socket, timeoutMs: number): Promise<void> {
  if (request.destroyed || !request.writable) return Promise.resolve();
  // end()'s callback runs on 'finish', or when the socket fails or is destroyed first.
  const { promise, resolve } = Promise.withResolvers<void>();
  if (request.writableLength === 0) {
    // Nothing left to send but the FIN, which the kernel takes at once, whatever the peer does.
    request.end(() => resolve());
    return promise;
  }
  // Bytes still queued wait for the peer to read them: bounded. A timer, not an AbortSignal, as
  // this runs for every connection.
  const deadline = setTimeout(resolve, timeoutMs);
  request.end(() => {
    clearTimeout(deadline);
    resolve();
  });
  return promise;
}
