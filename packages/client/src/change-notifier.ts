import { ClientError } from './client-error.js';

/**
 * Wakes whoever waits on a socket whenever its state may have changed: every waiter re-checks its
 * condition after each {@link notify}. Every wait is bounded by a timeout and may end on an `AbortSignal`.
 */
export class ChangeNotifier {
  /** Resolved and replaced on every `notify()`. */
  #changed = Promise.withResolvers<void>();

  /** Wakes every waiter, which re-runs its `poll`. */
  notify(): void {
    const { resolve } = this.#changed;
    this.#changed = Promise.withResolvers<void>();
    resolve();
  }

  /**
   * Re-runs `poll` after every `notify()` until it returns a value or throws. Fails with `ERR_TIMEOUT`
   * after `timeoutMs`, and with `ERR_ABORTED` (the signal's reason as `cause`) once `signal` aborts,
   * at once if it already has.
   * `operation` ("recv() on host:port") starts both messages.
   */
  async waitFor<T>(
    operation: string,
    timeoutMs: number,
    poll: () => T | undefined,
    signal?: AbortSignal,
  ): Promise<T> {
    let isTimedOut = false;
    const timer = setTimeout(() => {
      isTimedOut = true;
      this.notify();
    }, timeoutMs);
    const onAbort = (): void => this.notify();
    signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        if (signal?.aborted) {
          throw new ClientError('ERR_ABORTED', `${operation} was aborted`, { cause: signal.reason });
        }
        const result = poll();
        if (result !== undefined) return result;
        if (isTimedOut) throw new ClientError('ERR_TIMEOUT', `${operation} timed out after ${timeoutMs} ms`);
        await this.#changed.promise;
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
