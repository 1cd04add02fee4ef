import { finished } from 'node:stream/promises';
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
  const onIdle = (): void => {
    hasTimedOut = true;
    steps.reportError(request, clientAddress, new IdleTimeoutError(idleTimeoutMs ?? 0));
    request.destroy();
  };
  if (idleTimeoutMs !== undefined) request.setTimeout(idleTimeoutMs, onIdle);
  try {
    await steps.finishRequest(request, clientAddress);
  } catch (error) {
    if (!hasTimedOut) steps.reportError(request, clientAddress, error);
  } finally {
    if (idleTimeoutMs !== undefined) {
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
 * it is flushed, at most until `signal` aborts. The caller releases the socket afterwards.
 */
export async function endRequest(request: Socket, signal: AbortSignal): Promise<void> {
  if (request.destroyed || !request.writable) return;
  request.end();
  // Settles on 'finish', and on a close or failure before it (then rejecting), so it never hangs.
  await finished(request, { readable: false, signal }).catch(() => {
    // Not flushed in time, or the socket failed or closed: the caller destroys it either way.
  });
}
