/**
 * The network waits (connects and reads) that Ctrl-C cancels: each runs with its own
 * `AbortSignal`, registered until it settles.
 */
export class PendingOperations {
  readonly #controllers = new Set<AbortController>();

  /** How many operations are waiting now. */
  get size(): number {
    return this.#controllers.size;
  }

  /** Runs `operation` with a signal that {@link cancelAll} aborts; unregisters it once settled. */
  async run<T>(operation: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.#controllers.add(controller);
    try {
      return await operation(controller.signal);
    } finally {
      this.#controllers.delete(controller);
    }
  }

  /** Aborts every waiting operation with `reason`; returns how many there were. */
  cancelAll(reason: unknown): number {
    const count = this.#controllers.size;
    for (const controller of this.#controllers) controller.abort(reason);
    this.#controllers.clear();
    return count;
  }
}
