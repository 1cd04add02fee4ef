import type { Socket } from 'node:net';
import type { ClientAddress } from './client-address.js';
import { IdleTimeoutError } from './errors.js';

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
export async function serveRequest(
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
  try {
    await steps.finishRequest(request, clientAddress);
  } catch (error) {
    if (!hasTimedOut) steps.reportError(request, clientAddress, error);
  } finally {
    if (onIdle !== undefined) {
      request.setTimeout(0);
      request.off('timeout', onIdle);
    }
    try {
      await steps.shutdownRequest(request);
    } catch (error) {
      steps.reportError(request, clientAddress, error);
      request.destroy();
    }
  }
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
