// What one worker counts while it runs a scenario, turned into a LoadTally at the end.
import { build, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import { maxDescribedFailures, type LoadTally } from './protocol.ts';

/** 1 µs to one hour, three significant digits. */
export const buildLatencyHistogram = (): Histogram =>
  build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });

/** The measured window and the drain after it, in epoch milliseconds (see `now`). */
export interface Phases {
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Echoes still outstanding at this time are missing. */
  readonly drainEnd: number;
}

export class TallyRecorder {
  readonly phases: Phases;
  operations = 0;
  windowBytes = 0;
  verifiedBytes = 0;
  connectionsOpened = 0;
  readonly #histogram: Histogram = buildLatencyHistogram();
  #hasLatency = false;
  #failureCount = 0;
  readonly #failures: string[] = [];

  constructor(phases: Phases) {
    this.phases = phases;
  }

  isInWindow(time: number): boolean {
    return time >= this.phases.windowStart && time <= this.phases.windowEnd;
  }

  /** Counts `bytes` verified echoed bytes that arrived at `time`. */
  received(bytes: number, time: number): void {
    this.verifiedBytes += bytes;
    if (this.isInWindow(time)) this.windowBytes += bytes;
  }

  /** An operation that ended at `endedAt`: counted, its latency recorded, when it ended inside the window. */
  completed(startedAt: number, endedAt: number, isLatencyRecorded: boolean): void {
    if (!this.isInWindow(endedAt)) return;
    this.operations += 1;
    if (isLatencyRecorded) {
      this.#histogram.recordValue(Math.max(1, Math.round((endedAt - startedAt) * 1000)));
      this.#hasLatency = true;
    }
  }

  /** Counts `count` operations that ended at `time` (no latency). */
  completedMany(count: number, time: number): void {
    if (this.isInWindow(time)) this.operations += count;
  }

  fail(description: string): void {
    this.#failureCount += 1;
    if (this.#failures.length < maxDescribedFailures) this.#failures.push(description);
  }

  get failureCount(): number {
    return this.#failureCount;
  }

  toTally(): LoadTally {
    const tally: LoadTally = {
      operations: this.operations,
      windowBytes: this.windowBytes,
      verifiedBytes: this.verifiedBytes,
      histogram: this.#hasLatency ? encodeIntoCompressedBase64(this.#histogram) : '',
      connectionsOpened: this.connectionsOpened,
      failureCount: this.#failureCount,
      failures: this.#failures,
    };
    this.#histogram.destroy();
    return tally;
  }
}
