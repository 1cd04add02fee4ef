/**
 * A wake-up for loops that wait for something to change (a request queued, one finished) instead
 * of polling: `changed(signal)` resolves on the next `notify()`, or when `signal` aborts.
 */
export class ChangeSignal {
  #waiters: (() => void)[] = [];
  /** Signals that wake every waiter when they abort: one listener per signal, not one per wait. */
  readonly #watchedSignals = new WeakSet<AbortSignal>();

  /** Resolves on the next `notify()`, or when `signal` aborts (at once if it has). */
  changed(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    if (!this.#watchedSignals.has(signal)) {
      this.#watchedSignals.add(signal);
      // Wakes the waiters of every signal; each one checks its own and waits again if need be.
      signal.addEventListener('abort', () => this.notify(), { once: true });
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Wake every waiter. */
  notify(): void {
    const waiters = this.#waiters;
    // Called on every accept and every end of a request, mostly with nobody waiting: no new array then.
    if (waiters.length === 0) return;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
