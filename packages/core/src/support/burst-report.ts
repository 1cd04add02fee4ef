/**
 * Reports one kind of event at most once a period while a burst of them lasts, as Go's server logs
 * its accept back-off: the first event at once (`first`), then, at the end of each period that had
 * more, one report of how many came and the latest of them (`more`). A quiet period ends the
 * burst; the next event is reported at once again. Its timer never keeps the process alive.
 */
export class BurstReport<Event> {
  readonly #periodMs: number;
  readonly #first: (event: Event) => void;
  readonly #more: (count: number, latest: Event) => void;
  /** Events since the last report, and the latest of them. */
  #count = 0;
  #latest: Event | undefined;
  /** Set while a burst lasts: the end of its current period. */
  #timer: NodeJS.Timeout | undefined;

  constructor(periodMs: number, first: (event: Event) => void, more: (count: number, latest: Event) => void) {
    this.#periodMs = periodMs;
    this.#first = first;
    this.#more = more;
  }

  /** One more event: reported at once if it starts a burst, else counted for the period's report. */
  record(event: Event): void {
    if (this.#timer !== undefined) {
      this.#count += 1;
      this.#latest = event;
      return;
    }
    this.#first(event);
    this.#startPeriod();
  }

  /** Report what the burst has not yet, and end it (when closing). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#reportPending();
  }

  #startPeriod(): void {
    this.#timer = setTimeout(() => this.#endPeriod(), this.#periodMs);
    this.#timer.unref();
  }

  #endPeriod(): void {
    this.#timer = undefined;
    if (this.#count === 0) return; // a quiet period: the burst is over
    this.#reportPending();
    this.#startPeriod();
  }

  #reportPending(): void {
    const count = this.#count;
    const latest = this.#latest;
    this.#count = 0;
    this.#latest = undefined;
    if (count > 0) this.#more(count, latest as Event);
  }
}
