import type { Socket } from 'node:net';
import type { ClientAddress } from './client-address.js';
import { IdleTimeoutError } from './errors.js';
import { rejectWith } from './request-handler.js';

/** The template steps one request goes through; the server's overridable methods, or defaults. */
export interface RequestSteps {
  /** Build the handler and run it (setup, handle, finish). */
  finishRequest(request: Socket, clientAddress: ClientAddress): Promise<void>;
  /** End the request: half-close, then release the socket. */
  shutdownRequest(request: Socket): Promise<void>;
  /** Report a failure of this request, as `handleError`. */
  reportError(request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void;
}

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
  let hasTimedOut = false;
  let onIdle: (() => void) | undefined;
  if (idleTimeoutMs !== undefined) {
    onIdle = (): void => {
      hasTimedOut = true;
      steps.reportError(request, clientAddress, new IdleTimeoutError(idleTimeoutMs));
      request.destroy();
    };
    request.setTimeout(idleTimeoutMs, onIdle);
  }
  const shutDown = (): Promise<void> => {
    if (onIdle !== undefined) {
      request.setTimeout(0);
      request.off('timeout', onIdle);
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
  };
  // A promise chain, not an async function, for the memory of idle connections (see
  // runRequestHandler): finishRequest, its failure reported unless the idle timeout caused it,
  // then shutdownRequest whatever happened.
  let finishing: Promise<void>;
  try {
    finishing = steps.finishRequest(request, clientAddress);
  } catch (error) {
    finishing = rejectWith(error);
  }
  return finishing.then(shutDown, (error: unknown) => {
    if (!hasTimedOut) steps.reportError(request, clientAddress, error);
    return shutDown();
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
