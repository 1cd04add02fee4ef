// What the orchestrator, the load generator process and its worker threads say to each other.
// Orchestrator ↔ generator: one JSON object per line (stdin: commands, stdout: replies).
// Generator ↔ workers: the same objects, as worker_threads messages.

/** A measured scenario, as the load generator runs it. Times are in milliseconds. */
export type LoadRequest = StreamRequest | ConnectRequest | LargeRequest | IdleRequest;

/** Where the load goes: a port on 127.0.0.1, over TCP or TLS. */
export interface Endpoint {
  readonly port: number;
  /** TLS: the certificate (PEM) the server's must be, as a CA; absent: plain TCP. */
  readonly tlsCa?: string;
}

interface TimedRequest extends Endpoint {
  /** Not measured, before the window. */
  readonly warmupMs: number;
  /** The measured window. */
  readonly durationMs: number;
  /** After the window, how long outstanding echoes may take before they count as missing. */
  readonly drainMs: number;
}

/**
 * `connections` connections, each keeping `window` lines of `lineBytes` bytes outstanding: the
 * stream throughput scenario (window 64), the CPU-bound one, and ping-pong (window 1, latency
 * of every round trip recorded).
 */
export interface StreamRequest extends TimedRequest {
  readonly kind: 'stream';
  readonly connections: number;
  readonly window: number;
  readonly lineBytes: number;
  readonly recordLatency: boolean;
}

/** `loops` loops, each: connect, send one line, read its echo, close. */
export interface ConnectRequest extends TimedRequest {
  readonly kind: 'connect';
  readonly loops: number;
  readonly lineBytes: number;
}

/** `connections` loops, each: connect, send `transferBytes` as lines of `lineBytes`, read it all back, close. */
export interface LargeRequest extends TimedRequest {
  readonly kind: 'large';
  readonly connections: number;
  readonly transferBytes: number;
  readonly lineBytes: number;
}

/**
 * Open `connections` connections, each echoing one short line, hold them until told, close them.
 * Steps with the orchestrator: `baseline` (after one warm-up connection), `open`, `opened`, `close`.
 */
export interface IdleRequest {
  readonly kind: 'idle';
  readonly port: number;
  readonly connections: number;
  /** Connects under way at once, per worker. */
  readonly concurrentConnects: number;
  readonly timeoutMs: number;
}

/** What one worker (or, merged, the generator) measured. */
export interface LoadTally {
  /** Operations completed inside the window: lines, round trips, connections or transfers. */
  operations: number;
  /** Echoed bytes received inside the window. */
  windowBytes: number;
  /** Every echoed byte received and checked, the whole run long. */
  verifiedBytes: number;
  /** Latencies in µs, as `encodeIntoCompressedBase64` of an HDR histogram; '' when none. */
  histogram: string;
  /** Connections opened (idle: held open at once). */
  connectionsOpened: number;
  /** Verification failures and errors: a wrong, missing or extra byte, a refused or reset connection. */
  failureCount: number;
  /** The first few failures, described. */
  failures: string[];
}

/** Orchestrator → generator. */
export type GeneratorCommand =
  | { readonly command: 'ready'; readonly port: number; readonly tlsCa?: string; readonly timeoutMs: number }
  | { readonly command: 'run'; readonly request: LoadRequest }
  | { readonly command: 'open' }
  | { readonly command: 'close' };

/** Generator → orchestrator. */
export type GeneratorReply =
  | { readonly reply: 'ready'; readonly failure?: string }
  | { readonly reply: 'baseline' }
  | { readonly reply: 'opened'; readonly connections: number; readonly elapsedMs: number }
  | { readonly reply: 'result'; readonly tally: LoadTally; readonly elapsedMs: number }
  | { readonly reply: 'error'; readonly message: string };

/** Generator → worker. `startAt` and the other instants are epoch milliseconds (see `now`). */
export type WorkerCommand =
  | {
      readonly command: 'run';
      readonly request: LoadRequest;
      /** This worker's connections (or loops): ids `firstId` to `firstId + count - 1`. */
      readonly firstId: number;
      readonly count: number;
      readonly startAt: number;
    }
  | { readonly command: 'close' };

/** Worker → generator. */
export type WorkerReply =
  | { readonly reply: 'opened'; readonly connections: number }
  | { readonly reply: 'tally'; readonly tally: LoadTally };

/**
 * A run starts this long after the generator gets its command, so every worker starts at once;
 * the orchestrator counts from its own sending to sample the server at the window's edges.
 */
export const startDelayMs = 20;

/** Epoch milliseconds with sub-millisecond resolution, comparable between threads. */
export const now = (): number => performance.timeOrigin + performance.now();

/** At most this many failures are described; the rest are only counted. */
export const maxDescribedFailures = 5;
