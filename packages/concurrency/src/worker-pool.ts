import { EventEmitter, once } from 'node:events';
import type { Socket } from 'node:net';
import {
  ServerClosedError,
  ServerStateError,
  SendError,
  SocketServerError,
  WorkerExitedError,
  WorkerStartError,
  WorkerUnresponsiveError,
  UnsupportedOptionError,
  type ClientAddress,
  type ConcurrencyStrategy,
  type DatagramRequest,
} from '@socketserver/core';
import {
  locateRequestHandler,
  requireBoolean,
  requireTimeoutMs,
  type ListenerSharing,
  type StrategyContext,
} from '@socketserver/core/strategy';
import {
  fromWireBytes,
  toWireBytes,
  type MainToWorkerMessage,
  type WorkerListenSettings,
  type WorkerToMainMessage,
} from './handoff-protocol.js';
import {
  publish,
  workerExitChannel,
  workerRestartChannel,
  workerStartChannel,
  type WorkerExitMessage,
} from './diagnostics.js';
import { deserializeError, serializeError } from './serialized-error.js';
import { spawnWorker, type WorkerExit, type WorkerHandle, type WorkerKind } from './worker-handle.js';

/** Options every worker strategy takes. */
export interface WorkerStrategyOptions {
  /**
   * Python's `block_on_close`. `true` (the default): `close()` tells each worker to close its
   * connections, waits for their handlers to finish, at most the server's `drainTimeoutMs` (0: no
   * wait), then terminates what remains. `false`: `close()` terminates every worker at once
   * (threads are terminated, child processes get SIGKILL), as Python's daemon threads are abandoned.
   */
  blockOnClose?: boolean;
  /**
   * How long a worker may take to start and load the handler class, in ms (0 to 2^31 - 1); past it
   * the worker is terminated and reported as ERR_WORKER_START_FAILED. `0` turns the deadline off:
   * a worker may take as long as it likes to start (one that hangs while loading is then never
   * replaced). Default 10 000.
   */
  startTimeoutMs?: number;
  /**
   * How long a worker that serves may go without answering a health ping, in ms (0 to 2^31 - 1),
   * before it is reported and replaced: a worker whose event loop is blocked (a handler stuck in a
   * loop, a synchronous call that never returns) cannot answer. Its connections are closed, each
   * reported as `ERR_WORKER_EXITED`, never left hanging. Pings go every third of it. `0` turns the
   * check off: no pings. Default 30 000.
   */
  unresponsiveTimeoutMs?: number;
}

/** How a {@link WorkerPool} sizes, fills and empties itself; the strategies are presets of it. */
export interface WorkerPoolConfig {
  /** The strategy's name, for messages and the CLI. */
  readonly name: string;
  /** Whether workers are threads or child processes. */
  readonly kind: WorkerKind;
  /** Workers kept at all times, started by `start()`. */
  readonly minWorkers: number;
  /** Workers at most, counting those still starting or exiting. */
  readonly maxWorkers: number;
  /** Idle workers kept ready beyond the busy ones, so a connection need not wait for a start. */
  readonly spareWorkers: number;
  /** Requests (connections or datagrams) one worker serves at once. */
  readonly requestsPerWorker: number;
  /** Requests one worker serves in its life, then it is retired; `Infinity`: no limit. */
  readonly maxRequestsPerWorker: number;
  /** Retire a worker idle this long, in ms, down to `minWorkers` and `spareWorkers`; `undefined`: never. */
  readonly idleWorkerTimeoutMs: number | undefined;
  /** See {@link WorkerStrategyOptions.blockOnClose}. */
  readonly blockOnClose: boolean;
  /** See {@link WorkerStrategyOptions.startTimeoutMs}; `undefined` (or 0): no start deadline. */
  readonly startTimeoutMs: number | undefined;
  /** See {@link WorkerStrategyOptions.unresponsiveTimeoutMs}; `undefined` (or 0): no health pings. */
  readonly unresponsiveTimeoutMs: number | undefined;
  /**
   * Who accepts connections: `'workers'`, each from the listening socket itself, when the server
   * lets them (see `ConcurrencyStrategy.acceptsConnections`); `'main'`: the server, which hands
   * each to the least busy worker.
   */
  readonly accept: 'workers' | 'main';
}

/** Events of a {@link WorkerPool}: a worker was started (it counts from then), or has exited. */
export interface WorkerPoolEvents {
  /** A worker was started; the argument is its id. */
  workerStart: [id: number];
  /** A worker has exited; the argument is its id. */
  workerExit: [id: number];
}

/**
 * A request the strategy owns until `finish` resolves its `processRequest`: a connection (its
 * socket), or a datagram (`[data, socket]`, the socket being the server's, which it keeps).
 */
interface PendingRequest<Request> {
  /** `undefined` for a connection its worker accepted itself: this side never had its socket. */
  readonly request: Request | undefined;
  /** For a connection its worker accepted itself: waiting in it for a slot (`new`), or served. */
  acceptedState?: 'new' | 'active';
  readonly clientAddress: ClientAddress;
  readonly finish: () => void;
}

interface PooledWorker<Request> {
  readonly handle: WorkerHandle;
  /** Resolves once ready; rejects with why it could not start. */
  readonly started: PromiseWithResolvers<void>;
  state: 'starting' | 'ready' | 'retiring';
  /** Its running requests, by id. */
  readonly requests: Map<number, PendingRequest<Request>>;
  /** Requests handed to it in all. */
  servedCount: number;
  /** The start deadline, the idle timer, or the retire deadline: one at a time. */
  timer: NodeJS.Timeout | undefined;
  /** Why it failed to start (the handler did not load, the deadline passed). */
  startError: Error | undefined;
  /** The uncaught exception it reported before exiting, or why it was ended (unresponsive). */
  fatalError: Error | undefined;
  /** When it last said anything (`performance.now()`): the health check's clock. */
  lastHeardAt: number;
  /** When it became ready (`performance.now()`); undefined while starting. */
  readyAt: number | undefined;
  /** Connections it may hold, accepting itself: its share of the server's `maxConnections`. */
  connectionShare: number;
  /** The id of the last connection handed to it (a worker thread; see {@link WorkerPool.#checkHandOffs}). */
  lastSentId: number;
  /** Every connection handed to it up to this id is known to have arrived. */
  confirmedId: number;
  /** The hand-off check waiting for its pong: its `seq`, and the last id sent before it. */
  handOffPing: { readonly seq: number; readonly afterId: number } | undefined;
}

/**
 * How often a thread pool checks that the connections it handed over arrived, in ms: a socket
 * transferred to a worker thread while the process is out of file descriptors is dropped with
 * its message, with no error on either side, and would hold its slot for ever.
 */
const handOffCheckMs = 1_000;

type Phase = 'created' | 'starting' | 'running' | 'draining' | 'closing' | 'closed';

/** How long terminated workers may take to exit, in ms: they always do, this only bounds the wait. */
const terminateTimeoutMs = 5_000;
/**
 * After a worker fails to start, no worker is started for this long, doubling with each failure
 * in a row up to {@link maxStartRetryMs} (Go's accept back-off): a worker that cannot start (no
 * file descriptors left, a handler module that throws) is not retried in a tight loop.
 */
const firstStartRetryMs = 10;
const maxStartRetryMs = 5_000;
/**
 * Failures in a row after which the strategy reports them in one error and fails the requests
 * waiting for a worker if none is serving (10 ms doubling: about 2.5 s of retries).
 */
const startFailuresReported = 8;
/**
 * A worker that exits unexpectedly within this long, in ms, of becoming ready counts as a failed
 * start for the back-off, so a crash loop is not restarted at once, again and again.
 */
const minUptimeMs = 1_000;

/** Resolve the options every worker strategy takes. */
export function resolveWorkerStrategyOptions(
  options: WorkerStrategyOptions,
): Pick<WorkerPoolConfig, 'blockOnClose' | 'startTimeoutMs' | 'unresponsiveTimeoutMs'> {
  return {
    blockOnClose: requireBoolean('blockOnClose', options.blockOnClose ?? true),
    startTimeoutMs: requireTimeoutMs('startTimeoutMs', options.startTimeoutMs ?? 10_000),
    unresponsiveTimeoutMs: requireTimeoutMs('unresponsiveTimeoutMs', options.unresponsiveTimeoutMs ?? 30_000),
  };
}

/**
 * The engine of every thread and process strategy, after cluster's round robin: the main thread
 * keeps the listener and the accept queue, and hands each accepted socket to the least busy worker
 * with a free slot; bytes never pass through the main thread. It grows on demand up to
 * `maxWorkers`, keeps `minWorkers` and `spareWorkers`, retires idle and used-up workers, replaces a
 * worker that dies (its connections, and only they, are reported lost: ERR_WORKER_EXITED), and
 * leaves no worker behind after `close()`.
 *
 * `Request` is a connected `Socket` (stream servers) or a `DatagramRequest` (datagram servers, see
 * `StrategyContext.settings.requestKind`). A datagram has no connection to hand over: its worker
 * gets a copy of the bytes, and its handler's `socket.sendTo` comes back to the main thread, which
 * sends the reply through the server's own socket. Threads cannot serve a Unix stream server
 * (Node transfers only TCP sockets to worker threads): `start()` refuses it, ERR_UNSUPPORTED_OPTION.
 */
export class WorkerPool<Request = Socket>
  extends EventEmitter<WorkerPoolEvents>
  implements ConcurrencyStrategy<Request>, AsyncDisposable
{
  readonly name: string;
  /** Whether workers are threads or child processes, from {@link WorkerPoolConfig.kind}. */
  readonly kind: WorkerKind;
  readonly maxConcurrentRequests: number;
  readonly acceptsConnections: ListenerSharing | undefined;
  readonly #config: WorkerPoolConfig;
  readonly #workers = new Set<PooledWorker<Request>>();
  /** Requests waiting for a worker with a free slot. */
  readonly #queue: PendingRequest<Request>[] = [];
  /** Emits 'change' when a request settles or a worker exits. */
  readonly #changes = new EventEmitter();
  #phase: Phase = 'created';
  #context: StrategyContext<Request> | undefined;
  /** Requests are datagrams (`[data, socket]`), not connections; known from `start()`. */
  #isDatagram = false;
  #init: Extract<MainToWorkerMessage, { type: 'init' }> | undefined;
  /** What workers that accept connections themselves listen on; `undefined`: the server accepts. */
  #listen: WorkerListenSettings | undefined;
  #lastRequestId = 0;
  #workerRestarts = 0;
  #closing: Promise<void> | undefined;
  /** Workers that failed to start, or died right after, since one last served a request. */
  #startFailures = 0;
  /** A failed start has been reported since one last served a request. */
  #isStartFailureReported = false;
  /** The last start failed: start one worker at a time until one starts again. */
  #isProbing = false;
  /** While set, the back-off after a failed start: no worker is started until it fires. */
  #startRetryTimer: NodeJS.Timeout | undefined;
  /** The health check's timer: pings the workers that serve, ends those that stopped answering. */
  #healthTimer: NodeJS.Timeout | undefined;
  /** The check that handed-over connections reached their worker threads; see {@link handOffCheckMs}. */
  #handOffTimer: NodeJS.Timeout | undefined;
  #lastPingSeq = 0;

  constructor(config: WorkerPoolConfig) {
    super();
    this.#config = config;
    this.name = config.name;
    this.kind = config.kind;
    this.maxConcurrentRequests =
      config.maxWorkers * Math.min(config.requestsPerWorker, config.maxRequestsPerWorker);
    this.acceptsConnections = config.accept === 'workers' ? listenerSharingOf(config.kind) : undefined;
  }

  /** Workers alive now: starting, serving, idle or exiting (until their 'exit'). */
  get workerCount(): number {
    return this.#workers.size;
  }

  /** The `threadId`s of the thread workers, or the pids of the child processes, alive now. */
  get workerIds(): number[] {
    return [...this.#workers].map((worker) => worker.handle.id);
  }

  /** Workers that died while serving and were replaced (for the server's `stats()`). */
  get workerRestarts(): number {
    return this.#workerRestarts;
  }

  /**
   * Start the first workers and load the handler class in each; rejects, with no worker left, if
   * the class cannot be located (ERR_HANDLER_NOT_LOCATABLE), loaded (ERR_HANDLER_LOAD_FAILED), or
   * a worker does not start (ERR_WORKER_START_FAILED). Threads refuse a Unix stream server, before
   * starting any worker (ERR_UNSUPPORTED_OPTION).
   */
  async start(context: StrategyContext<Request>): Promise<void> {
    if (this.#phase !== 'created')
      throw new ServerStateError(`the ${this.name} strategy was already started`);
    const { requestKind, serverAddress } = context.settings;
    if (this.kind === 'thread' && requestKind === 'stream' && typeof serverAddress === 'string') {
      throw new UnsupportedOptionError(
        `the ${this.name} strategy on a Unix stream server`,
        'Node moves only TCP sockets to worker threads, so a Unix stream connection cannot reach one; ' +
          "use forking() or pool({ kind: 'process' })",
      );
    }
    this.#isDatagram = requestKind === 'datagram';
    this.#listen = context.listener === undefined ? undefined : this.#listenSettings(context.listener);
    this.#init = {
      type: 'init',
      handler: locateRequestHandler(context.RequestHandlerClass),
      settings: context.settings,
      listen: this.#listen,
    };
    this.#context = context;
    this.#phase = 'starting';
    const { minWorkers, spareWorkers, maxWorkers } = this.#config;
    // At least one, so a handler that cannot load fails here, not at the first connection.
    const initialCount = Math.min(maxWorkers, Math.max(1, minWorkers + spareWorkers));
    const initial = Array.from({ length: initialCount }, () => this.#spawn());
    const closedError = (): ServerClosedError =>
      new ServerClosedError(`the ${this.name} strategy was closed while starting`);
    const outcomes = await Promise.allSettled(initial.map((worker) => worker.started.promise));
    if (this.#closing !== undefined) {
      await this.close();
      throw closedError();
    }
    const failures = outcomes.flatMap((outcome) =>
      outcome.status === 'rejected' ? [outcome.reason as Error] : [],
    );
    if (failures.length === outcomes.length) {
      // Not one worker: the handler does not load, or workers cannot start here at all.
      await this.close();
      throw failures[0] as Error;
    }
    this.#phase = 'running';
    // Those that started serve; the others are started again, with the back-off.
    for (const failure of failures) this.#onStartFailed(failure);
    const { unresponsiveTimeoutMs } = this.#config;
    if (unresponsiveTimeoutMs) {
      this.#healthTimer = setInterval(() => this.#checkHealth(), Math.max(1, unresponsiveTimeoutMs / 3));
      this.#healthTimer.unref();
    }
    if (this.kind === 'thread' && !this.#isDatagram) {
      this.#handOffTimer = setInterval(() => this.#checkHandOffs(), handOffCheckMs);
      this.#handOffTimer.unref();
    }
    this.#dispatch();
  }

  /**
   * Ask each worker thread that was handed connections since the last answer which one it got last
   * (`ping` with a `seq`; the `pong` says). Messages arrive in order, so a connection sent before
   * the ping and above the worker's last one never arrived: see {@link WorkerPool.#onHandOffPong}.
   * At most one message a second per worker, and none while every hand-off is confirmed.
   */
  #checkHandOffs(): void {
    for (const worker of this.#workers) {
      if (worker.state === 'starting' || worker.handOffPing !== undefined) continue;
      if (worker.lastSentId <= worker.confirmedId) continue;
      const seq = ++this.#lastPingSeq;
      worker.handOffPing = { seq, afterId: worker.lastSentId };
      this.#send(worker, { type: 'ping', seq });
    }
  }

  /** The answer to a hand-off check: the connections sent before it that never arrived are lost. */
  #onHandOffPong(worker: PooledWorker<Request>, lastRequestId: number): void {
    const ping = worker.handOffPing;
    worker.handOffPing = undefined;
    worker.confirmedId = Math.max(worker.confirmedId, lastRequestId);
    if (ping === undefined) return;
    for (const [id, request] of worker.requests) {
      if (id <= lastRequestId || id > ping.afterId) continue;
      worker.requests.delete(id);
      this.#context?.handleError(
        request.request,
        request.clientAddress,
        new SendError(
          `connection lost on its way to ${describeWorker(worker)}: it never arrived ` +
            '(the process may be out of file descriptors)',
        ),
      );
      this.#settle(request);
    }
    worker.confirmedId = Math.max(worker.confirmedId, ping.afterId);
    this.#onIdle(worker);
  }

  /**
   * The caps of each worker that accepts: at most `requestsPerWorker` served, `requestQueueSize`
   * waiting (each worker's own queue, as each has its own listen backlog: the kernel's spread over
   * threads' sockets is uneven, and a worker the scheduler left behind for a moment must not drop
   * what a shared cap would keep), and its share of `maxConnections` (see
   * {@link WorkerPool.#listenFor}).
   */
  #listenSettings(listener: NonNullable<StrategyContext['listener']>): WorkerListenSettings {
    const { requestsPerWorker, maxWorkers } = this.#config;
    // Each worker sees only its own connections: the handshake caps are split, rounded up.
    const share = (cap: number): number => (cap === 0 ? 0 : Math.ceil(cap / maxWorkers));
    return {
      listener,
      slots: requestsPerWorker,
      maxWaiting: listener.requestQueueSize,
      maxConnections: listener.maxConnections,
      maxHandshakes: share(listener.maxHandshakes),
      maxHandshakesPerSource: share(listener.maxHandshakesPerSource),
    };
  }

  /**
   * What a new worker listens with, if it accepts: `undefined` while draining (it only serves what
   * it is handed) or when it may hold no connection. Its share of the server's `maxConnections` is
   * `maxConnections / maxWorkers` rounded up, at most what the live workers leave, so the shares
   * never add up to more: with fewer `maxConnections` than workers, some workers do not listen.
   */
  #listenFor(worker: PooledWorker<Request>): WorkerListenSettings | undefined {
    const listen = this.#listen;
    if (listen === undefined || this.#phase === 'draining') return undefined;
    const { maxConnections } = listen;
    if (maxConnections === 0) return listen;
    let held = 0;
    for (const other of this.#workers) held += other.connectionShare;
    worker.connectionShare = Math.min(
      Math.ceil(maxConnections / this.#config.maxWorkers),
      maxConnections - held,
    );
    return worker.connectionShare > 0 ? { ...listen, maxConnections: worker.connectionShare } : undefined;
  }

  /** Ping every worker that serves; end one silent for longer than `unresponsiveTimeoutMs`. */
  #checkHealth(): void {
    const unresponsiveTimeoutMs = this.#config.unresponsiveTimeoutMs ?? 0; // only armed when set
    const now = performance.now();
    for (const worker of this.#workers) {
      // A starting worker has its start deadline, a retiring one its close deadline.
      if (worker.state !== 'ready' || worker.fatalError !== undefined) continue;
      if (now - worker.lastHeardAt <= unresponsiveTimeoutMs) {
        this.#send(worker, { type: 'ping' });
        continue;
      }
      worker.fatalError = new WorkerUnresponsiveError(
        `it did not answer a health ping for ${unresponsiveTimeoutMs} ms`,
      );
      worker.handle.terminate(); // its exit reports its connections lost, and replaces it
    }
  }

  processRequest(request: Request, clientAddress: ClientAddress): Promise<void> {
    if (this.#phase !== 'running' && this.#phase !== 'draining') {
      return Promise.reject(new ServerStateError(`the ${this.name} strategy is ${this.#phase}`));
    }
    return new Promise((finish) => {
      this.#queue.push({ request, clientAddress, finish });
      this.#dispatch();
    });
  }

  /** Take no more work of its own accord (no spares, no replacements beyond demand); wait for the requests. */
  async drain(signal: AbortSignal): Promise<void> {
    if (this.#phase === 'running') this.#phase = 'draining';
    if (this.#listen !== undefined) {
      for (const worker of this.#workers) this.#send(worker, { type: 'stop-accepting' });
    }
    await this.#waitFor(() => this.#pendingCount() === 0, signal);
  }

  /** End every worker, gracefully first with `blockOnClose`; resolves when none is left. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** `await using`: the same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#phase = 'closing';
    clearTimeout(this.#startRetryTimer);
    this.#startRetryTimer = undefined;
    clearInterval(this.#healthTimer);
    clearInterval(this.#handOffTimer);
    for (const request of this.#queue.splice(0)) this.#settle(request);
    const graceMs = this.#config.blockOnClose ? (this.#context?.settings.drainTimeoutMs ?? 0) : 0;
    for (const worker of this.#workers) {
      clearTimeout(worker.timer);
      if (graceMs > 0 && worker.state !== 'starting') this.#tellToClose(worker);
      else worker.handle.terminate();
    }
    const noneLeft = (): boolean => this.#workers.size === 0;
    if (!(await this.#waitFor(noneLeft, AbortSignal.timeout(graceMs)))) {
      for (const worker of this.#workers) worker.handle.terminate();
      await this.#waitFor(noneLeft, AbortSignal.timeout(terminateTimeoutMs));
    }
    this.#phase = 'closed';
  }

  #spawn(): PooledWorker<Request> {
    const started = Promise.withResolvers<void>();
    // A runtime start failure is reported by #onExit; only start() awaits this promise.
    started.promise.catch(() => {});
    const worker: PooledWorker<Request> = {
      // Its listeners run on later ticks, once `worker` is assigned.
      handle: spawnWorker(
        this.kind,
        {
          message: (message) => this.#onMessage(worker, message),
          exit: (exit) => this.#onExit(worker, exit),
        },
        {
          inheritFd: this.kind === 'process' ? this.#listen?.listener.fd : undefined,
          // Datagrams carry bytes: structured clone. Connections carry none: JSON, cheaper per message.
          serialization: this.#isDatagram ? 'advanced' : 'json',
        },
      ),
      started,
      state: 'starting',
      requests: new Map(),
      servedCount: 0,
      timer: undefined,
      startError: undefined,
      fatalError: undefined,
      lastHeardAt: performance.now(),
      readyAt: undefined,
      connectionShare: 0,
      lastSentId: 0,
      confirmedId: 0,
      handOffPing: undefined,
    };
    this.#workers.add(worker);
    const { startTimeoutMs } = this.#config;
    if (startTimeoutMs) {
      worker.timer = setTimeout(() => {
        worker.startError = new WorkerStartError(
          `${describeWorker(worker)} did not start within ${startTimeoutMs} ms`,
        );
        worker.handle.terminate();
      }, startTimeoutMs).unref();
    }
    if (this.#init !== undefined) this.#send(worker, { ...this.#init, listen: this.#listenFor(worker) });
    publish(workerStartChannel, () => ({ strategy: this, id: worker.handle.id, kind: this.kind }));
    this.emit('workerStart', worker.handle.id);
    return worker;
  }

  #onMessage(worker: PooledWorker<Request>, message: Exclude<WorkerToMainMessage, { type: 'batch' }>): void {
    const context = this.#context;
    worker.lastHeardAt = performance.now();
    switch (message.type) {
      case 'pong':
        if (message.seq !== undefined && message.seq === worker.handOffPing?.seq) {
          this.#onHandOffPong(worker, message.lastRequestId);
        }
        return;
      case 'ready':
        if (worker.state !== 'starting') return;
        worker.state = 'ready';
        worker.readyAt = performance.now();
        this.#isProbing = false;
        clearTimeout(worker.timer);
        worker.started.resolve();
        this.#onIdle(worker);
        return;
      case 'init-failed':
        worker.startError = deserializeError(message.error);
        worker.handle.terminate();
        return;
      case 'opened': {
        const { id, clientAddress, waiting } = message;
        const request: PendingRequest<Request> = {
          request: undefined,
          clientAddress,
          acceptedState: 'new',
          finish: () => context?.recordConnectionState(clientAddress, 'closed', request.acceptedState),
        };
        worker.requests.set(id, request);
        worker.servedCount += 1;
        context?.recordConnectionState(clientAddress, 'new', undefined);
        if (!waiting) this.#markActive(request);
        return;
      }
      case 'active': {
        const request = worker.requests.get(message.id);
        if (request !== undefined) this.#markActive(request);
        return;
      }
      case 'dropped':
        context?.recordDrop(message.clientAddress, message.reason);
        return;
      case 'refused':
        context?.recordRefusal(message.clientAddress, deserializeError(message.error));
        return;
      case 'accept-failed':
        context?.recordAcceptError(deserializeError(message.error));
        return;
      case 'handshake-done': {
        const request = worker.requests.get(message.id)?.request;
        if (request !== undefined) context?.recordHandshakeDone(request);
        return;
      }
      case 'accepted':
        // A child process has its own copy now (threads do not send it: the transfer closed ours).
        (worker.requests.get(message.id)?.request as Socket | undefined)?.destroy();
        return;
      case 'send':
        this.#relay(worker, message);
        return;
      case 'error': {
        const request = worker.requests.get(message.id);
        if (request !== undefined) {
          context?.handleError(request.request, request.clientAddress, deserializeError(message.error));
        }
        return;
      }
      case 'done': {
        // Messages arrive in order: every connection handed over up to this one arrived.
        if (message.id > worker.confirmedId) worker.confirmedId = message.id;
        const request = worker.requests.get(message.id);
        if (request === undefined) return;
        worker.requests.delete(message.id);
        // A worker that serves: the back-off is over.
        this.#startFailures = 0;
        this.#isStartFailureReported = false;
        if (message.bytesIn > 0 || message.bytesOut > 0)
          context?.recordTraffic(message.bytesIn, message.bytesOut);
        this.#settle(request);
        this.#onIdle(worker);
        return;
      }
      case 'worker-error':
        context?.handleServerError(deserializeError(message.error));
        return;
      case 'fatal':
        worker.fatalError = deserializeError(message.error);
        return;
    }
  }

  /** A connection its worker accepted is served now. */
  #markActive(request: PendingRequest<Request>): void {
    if (request.acceptedState !== 'new') return;
    request.acceptedState = 'active';
    this.#context?.recordConnectionState(request.clientAddress, 'active', 'new');
  }

  #onExit(worker: PooledWorker<Request>, exit: WorkerExit): void {
    this.#workers.delete(worker);
    clearTimeout(worker.timer);
    const context = this.#context;
    const isRunning = this.#phase === 'running' || this.#phase === 'draining';
    const how = describeExit(exit, worker.fatalError ?? exit.error);
    if (worker.state === 'starting') {
      const error =
        worker.startError ?? new WorkerStartError(`${describeWorker(worker)} ${how} before it was ready`);
      worker.started.reject(error);
      if (isRunning) this.#onStartFailed(error);
    } else {
      const isExpected = worker.state === 'retiring' || !isRunning;
      for (const request of worker.requests.values()) {
        if (!isExpected) {
          context?.handleError(
            request.request,
            request.clientAddress,
            new WorkerExitedError(
              `${this.#isDatagram ? 'request' : 'connection'} lost: its ${describeWorker(worker)} ${how}`,
            ),
          );
        }
        this.#settle(request);
      }
      worker.requests.clear();
      if (!isExpected) {
        this.#workerRestarts += 1;
        publish(workerRestartChannel, () => this.#exitMessage(worker, exit));
        context?.handleServerError(new WorkerExitedError(`${describeWorker(worker)} ${how}; replacing it`));
        // Dead soon after it started: maybe every new one will be. Replace it after the back-off.
        if (performance.now() - (worker.readyAt ?? Number.NEGATIVE_INFINITY) < minUptimeMs) this.#backOff();
      }
      this.#dispatch();
    }
    publish(workerExitChannel, () => this.#exitMessage(worker, exit));
    this.emit('workerExit', worker.handle.id);
    this.#changes.emit('change');
  }

  /** The payload of `socketserver:worker:exit` and `:restart`. */
  #exitMessage(worker: PooledWorker<Request>, { code, signal, error }: WorkerExit): WorkerExitMessage {
    const why = worker.fatalError ?? worker.startError ?? error;
    return { strategy: this, id: worker.handle.id, kind: this.kind, code, signal, error: why };
  }

  /**
   * A worker could not start while serving. No worker is started again before the back-off ends
   * (10 ms, doubling with each failure in a row, at most 5 s); the workers that run serve on. The
   * first failure of a run is reported, and so, after {@link startFailuresReported} in a row (early
   * deaths count), is the run in one error; then, if no worker can serve, the requests waiting for
   * one fail with it. A run ends when a worker serves a request.
   */
  #onStartFailed(error: Error): void {
    const failures = this.#backOff();
    if (!this.#isStartFailureReported) {
      this.#isStartFailureReported = true;
      this.#context?.handleServerError(error);
    }
    if (failures < startFailuresReported) return;
    const runError = new WorkerStartError(
      `${failures} workers in a row failed to start or died within ${minUptimeMs / 1000} s ` +
        `(the last: ${error.message}); retrying every ${maxStartRetryMs / 1000} s at most`,
      { cause: error },
    );
    if (failures === startFailuresReported) this.#context?.handleServerError(runError);
    // Requests are not kept waiting for a worker that may never come, when none serves.
    if ([...this.#workers].some((worker) => worker.state === 'ready')) return;
    for (const request of this.#queue.splice(0)) {
      this.#context?.handleError(request.request, request.clientAddress, runError);
      this.#settle(request);
    }
  }

  /**
   * Count one more failed start (or early death) in a row, and start no worker until the back-off
   * for that many has passed: 10 ms, doubling, at most 5 s; then one at a time until one starts.
   * Returns the count.
   */
  #backOff(): number {
    this.#startFailures += 1;
    this.#isProbing = true;
    const failures = this.#startFailures;
    const delayMs = Math.min(firstStartRetryMs * 2 ** Math.min(failures - 1, 16), maxStartRetryMs);
    clearTimeout(this.#startRetryTimer);
    this.#startRetryTimer = setTimeout(() => {
      this.#startRetryTimer = undefined;
      this.#dispatch();
    }, delayMs).unref();
    return failures;
  }

  /** A worker may have a free slot: give it waiting work, retire it, or time its idleness. */
  #onIdle(worker: PooledWorker<Request>): void {
    const isIdle = (): boolean => worker.state === 'ready' && worker.requests.size === 0;
    if (isIdle() && worker.servedCount >= this.#config.maxRequestsPerWorker) this.#retire(worker);
    this.#dispatch();
    const { idleWorkerTimeoutMs } = this.#config;
    if (isIdle() && idleWorkerTimeoutMs !== undefined) {
      clearTimeout(worker.timer);
      worker.timer = setTimeout(() => this.#retireIfSurplus(worker), idleWorkerTimeoutMs).unref();
    }
  }

  /** Hand waiting requests to workers with free slots, then start the workers still wanted. */
  #dispatch(): void {
    for (let request = this.#queue[0]; request !== undefined; request = this.#queue[0]) {
      const worker = this.#leastBusyWorker();
      if (worker === undefined) break;
      this.#queue.shift();
      this.#handOff(worker, request);
    }
    this.#replenish();
  }

  #leastBusyWorker(): PooledWorker<Request> | undefined {
    const { requestsPerWorker, maxRequestsPerWorker } = this.#config;
    let best: PooledWorker<Request> | undefined;
    for (const worker of this.#workers) {
      if (
        worker.state === 'ready' &&
        worker.requests.size < requestsPerWorker &&
        worker.servedCount < maxRequestsPerWorker &&
        (best === undefined || worker.requests.size < best.requests.size)
      ) {
        best = worker;
      }
    }
    return best;
  }

  #handOff(worker: PooledWorker<Request>, request: PendingRequest<Request>): void {
    const id = ++this.#lastRequestId;
    worker.requests.set(id, request);
    worker.servedCount += 1;
    clearTimeout(worker.timer);
    const { clientAddress } = request;
    const sending = this.#isDatagram
      ? worker.handle.send({
          type: 'datagram',
          id,
          clientAddress,
          // The worker gets the bytes (a thread, a copy of its own), never the server's socket.
          data: toWireBytes((request.request as DatagramRequest)[0], worker.handle.kind),
        })
      : worker.handle.send({ type: 'request', id, clientAddress }, request.request as Socket);
    worker.lastSentId = id;
    sending.catch((error: unknown) => {
      // Not sent (the worker is exiting, or the socket failed): this request alone is lost.
      if (!worker.requests.delete(id)) return;
      this.#context?.handleError(request.request, clientAddress, error);
      this.#settle(request);
      this.#onIdle(worker);
    });
  }

  /**
   * A datagram handler's `socket.sendTo` in a worker: send it through the socket of its request,
   * the server's own (so the reply leaves from the server's address), and tell the worker how it
   * went (`sent`, with ERR_SEND_FAILED if it could not be sent).
   */
  #relay(
    worker: PooledWorker<Request>,
    { id, seq, data, address }: Extract<WorkerToMainMessage, { type: 'send' }>,
  ): void {
    const answer = (error?: unknown): void => {
      // A worker that has exited waits for nothing any more.
      if (!this.#workers.has(worker)) return;
      this.#send(
        worker,
        error === undefined
          ? { type: 'sent', id, seq }
          : { type: 'sent', id, seq, error: serializeError(toSendError(error)) },
      );
    };
    const request = worker.requests.get(id);
    if (request === undefined || !this.#isDatagram) {
      answer(new SendError(`cannot send: request ${id} has finished`));
      return;
    }
    let sending: Promise<void>;
    try {
      sending = (request.request as DatagramRequest)[1].sendTo(fromWireBytes(data), address);
    } catch (error) {
      sending = Promise.reject(toSendError(error));
    }
    sending.then(() => answer(), answer);
  }

  /** Start workers for the requests waiting, and, while running, for `minWorkers` and `spareWorkers`. */
  #replenish(): void {
    if (this.#phase !== 'running' && this.#phase !== 'draining') return;
    if (this.#startRetryTimer !== undefined) return; // backing off after a failed start
    const { minWorkers, maxWorkers, spareWorkers, requestsPerWorker, maxRequestsPerWorker } = this.#config;
    let starting = 0;
    let retiring = 0;
    let idle = 0;
    for (const worker of this.#workers) {
      if (worker.state === 'starting') starting += 1;
      else if (worker.state === 'retiring') retiring += 1;
      else if (worker.requests.size === 0 && worker.servedCount < maxRequestsPerWorker) idle += 1;
    }
    const slotsPerWorker = Math.min(requestsPerWorker, maxRequestsPerWorker);
    const isRunning = this.#phase === 'running';
    const wanted = Math.max(
      Math.ceil(this.#queue.length / slotsPerWorker) - starting,
      isRunning ? minWorkers - (this.#workers.size - retiring) : 0,
      isRunning ? spareWorkers - idle - starting : 0,
    );
    // After a failed start, one at a time: N waiting requests do not make N doomed starts.
    const count = Math.min(wanted, maxWorkers - this.#workers.size, this.#isProbing ? 1 - starting : wanted);
    for (let index = 0; index < count; index += 1) this.#spawn();
  }

  #retireIfSurplus(worker: PooledWorker<Request>): void {
    if (this.#phase !== 'running' || worker.state !== 'ready' || worker.requests.size > 0) return;
    let kept = 0;
    let idle = 0;
    for (const other of this.#workers) {
      if (other.state === 'retiring') continue;
      kept += 1;
      if (other.state === 'ready' && other.requests.size === 0) idle += 1;
    }
    if (kept > this.#config.minWorkers && idle > this.#config.spareWorkers) this.#retire(worker);
  }

  #retire(worker: PooledWorker<Request>): void {
    worker.state = 'retiring';
    this.#tellToClose(worker);
  }

  /** Ask a worker to close and exit; terminate it if it has not within `drainTimeoutMs`. */
  #tellToClose(worker: PooledWorker<Request>): void {
    clearTimeout(worker.timer);
    this.#send(worker, { type: 'close' });
    const graceMs = this.#context?.settings.drainTimeoutMs ?? 0;
    worker.timer = setTimeout(() => worker.handle.terminate(), graceMs).unref();
  }

  /**
   * Send a control message; a worker that cannot take it is of no use, so it is terminated. One
   * that cannot take its `init` (`handlerOptions` that structured clone cannot copy) fails to
   * start with the reason.
   */
  #send(worker: PooledWorker<Request>, message: MainToWorkerMessage): void {
    worker.handle.send(message).catch((error: unknown) => {
      if (message.type === 'init' && worker.state === 'starting') {
        worker.startError ??= new WorkerStartError(
          `${describeWorker(worker)} could not be sent the handler and its settings: ${String(error)}`,
          { cause: error },
        );
      }
      worker.handle.terminate();
    });
  }

  /**
   * Close this side's copy of a connection's socket (if still open) and resolve the request's
   * `processRequest`. A datagram has nothing to close: its socket is the server's.
   */
  #settle(request: PendingRequest<Request>): void {
    if (!this.#isDatagram) (request.request as Socket | undefined)?.destroy();
    request.finish();
    this.#changes.emit('change');
  }

  #pendingCount(): number {
    let count = this.#queue.length;
    for (const worker of this.#workers) count += worker.requests.size;
    return count;
  }

  /** Wait until `isDone()`, re-checked at each change; `false` if `signal` aborted first. */
  async #waitFor(isDone: () => boolean, signal: AbortSignal): Promise<boolean> {
    while (!isDone()) {
      if (signal.aborted) return false;
      await once(this.#changes, 'change', { signal }).catch(() => {});
    }
    return true;
  }
}

/**
 * How workers of `kind` share the server's listening socket: child processes inherit its
 * descriptor, so the socket listens, its accept queue kept, as long as the server holds it;
 * threads, which share this process's descriptors (one closed by a dying thread would be closed
 * for all), bind their own with SO_REUSEPORT, where the kernel spreads connections over such
 * sockets (Linux, FreeBSD): a thread's queue dies with it, and while no thread listens (a pool of
 * one restarting its worker) connections are refused. Elsewhere threads do not accept themselves.
 */
function listenerSharingOf(kind: WorkerKind): ListenerSharing | undefined {
  if (kind === 'process') return 'inherit';
  return process.platform === 'linux' || process.platform === 'freebsd' ? 'reusePort' : undefined;
}

function describeWorker(worker: PooledWorker<unknown>): string {
  const { kind, id } = worker.handle;
  return kind === 'thread' ? `worker thread ${id}` : `worker process ${id}`;
}

function describeExit(exit: WorkerExit, cause: Error | undefined): string {
  const how =
    exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? 'unknown'}`;
  return cause === undefined ? how : `${how} (${cause.name}: ${cause.message})`;
}

/** A failure to send a datagram, as the worker's `sendTo` rejects with it: ERR_SEND_FAILED unless it is one of ours. */
function toSendError(error: unknown): Error {
  if (error instanceof SocketServerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SendError(`cannot send: ${message}`, { cause: error });
}
