import { EventEmitter } from 'node:events';
import { formatClientAddress, type ClientAddress } from '../support/client-address.js';
import { ServerClosedError, ServerStateError, SocketServerError } from '../support/errors.js';
import { requireDelayMs, requireTimeoutMs } from '../support/option-validators.js';
import { printable } from '../support/printable.js';
import {
  runRequestHandler,
  type HandlerServer,
  type RequestHandlerClass,
} from '../request/request-handler.js';
import { serialStrategy } from '../strategy/serial-strategy.js';
import type { ServerAddress } from '../platform/server-address.js';
import type { ConnectionState } from './connection-registry.js';
import type {
  ConcurrencyStrategy,
  DropReason,
  RequestSettings,
  SharedListener,
  StrategyContext,
} from '../strategy/strategy.js';

/** Options of every server. Unset ones take the class defaults (the static fields). */
export interface BaseServerOptions<Request> {
  /**
   * Bind and activate in the constructor. With `false`, set options, then call `serverBind()` and
   * `serverActivate()` yourself. Default `true`.
   */
  bindAndActivate?: boolean;
  /** Where requests run. Default {@link serialStrategy}: one at a time, as Python's servers. */
  strategy?: ConcurrencyStrategy<Request>;
  /**
   * How long `handleRequest()` waits for a request before `handleTimeout()`, in ms (at most
   * 2^31 - 1). `0` turns the timeout off, as in Node and Go: it waits as long as it takes (not
   * Python's `timeout = 0`, a poll). Default: off.
   */
  timeoutMs?: number;
  /**
   * How long `shutdown()` lets running requests finish before closing them, in ms (0 to 2^31 - 1).
   * A bound on an orderly wait, not a timeout that fails anything: `0` closes them at once, without
   * waiting (it does not mean "no limit"). Default 10 000.
   */
  drainTimeoutMs?: number;
  /** A structured-clonable record handed to every request handler as `server.handlerOptions`. */
  handlerOptions?: Readonly<Record<string, unknown>>;
  /** Aborting it shuts the server down, as `shutdown()`. */
  signal?: AbortSignal;
}

/** What a server has done so far, and is doing: `server.stats()`. */
export interface ServerStats {
  /** Requests taken in: connections accepted, or datagrams received (the refused ones included). */
  readonly accepted: number;
  /** Requests being served now. */
  readonly active: number;
  /** Requests waiting for a free slot of the strategy. */
  readonly waiting: number;
  /** Requests refused, by why: `verifyRequest` said no, or a cap was reached. */
  readonly refused: {
    /** `verifyRequest()` returned false. */
    readonly verifyRequest: number;
    /** Beyond `maxConnections` (stream servers). */
    readonly maxConnections: number;
    /** Beyond `requestQueueSize`. */
    readonly requestQueueSize: number;
    /** A PROXY header refused: an untrusted peer, or a malformed, truncated, oversized or late header (stream servers). */
    readonly proxyProtocol: number;
    /** Beyond `maxHandshakes` or `maxHandshakesPerSource` (stream servers with TLS or PROXY headers). */
    readonly handshakes: number;
  };
  /** Bytes received from clients (whole datagrams, before any cut to `maxPacketSize`). */
  readonly bytesIn: number;
  /** Bytes sent to clients. */
  readonly bytesOut: number;
  /** Failures reported to `handleError`. */
  readonly handlerErrors: number;
  /**
   * Connections the listening socket failed to accept (ENOBUFS, ENOMEM, EMFILE beyond what libuv
   * absorbs, ...): each was lost, and the server listened on (stream servers).
   */
  readonly acceptErrors: number;
  /**
   * Datagrams longer than `maxPacketSize`, cut to it before their handler got them (datagram
   * servers; 0 for stream servers). Counted each, reported to `handleError` once per burst.
   */
  readonly truncatedDatagrams: number;
  /** Workers of the strategy that died while serving and were replaced. */
  readonly workerRestarts: number;
  /** Whether `shutdown()` (or `serverClose()`) is under way. */
  readonly draining: boolean;
}

/** The counts behind `stats()` that subclasses add to (see {@link ServerStats}). */
export interface ServerCounters {
  /** See {@link ServerStats.accepted}. */
  accepted: number;
  /** `verifyRequest()` returned false. */
  refusedByVerifyRequest: number;
  /** Beyond `maxConnections`. */
  refusedByMaxConnections: number;
  /** Beyond `requestQueueSize`. */
  refusedByRequestQueueSize: number;
  /** A PROXY header refused. */
  refusedByProxyProtocol: number;
  /** Beyond `maxHandshakes` or `maxHandshakesPerSource`. */
  refusedByHandshakes: number;
  /** See {@link ServerStats.bytesIn}. */
  bytesIn: number;
  /** See {@link ServerStats.bytesOut}. */
  bytesOut: number;
  /** See {@link ServerStats.handlerErrors}. */
  handlerErrors: number;
  /** See {@link ServerStats.acceptErrors}. */
  acceptErrors: number;
  /** See {@link ServerStats.truncatedDatagrams}. */
  truncatedDatagrams: number;
}

/**
 * Python's BaseServer: the request loop every server shares, whatever its socket.
 * `serveForever()` and `handleRequest()` take the next request (`nextRequest`) once the strategy
 * has a free slot and dispatch it (`dispatchRequest`: `verifyRequest`, then `processRequest`);
 * `shutdown()` and `serverClose()` stop taking requests and let the subclass end what runs
 * (`stopServing`). The subclasses say what a request is: {@link StreamServer} (a connection) and
 * {@link DatagramServer} (a datagram).
 *
 * `Request` is what a handler gets as `request`; `Pending` what waits to be dispatched.
 */
export abstract class BaseServer<
  Request,
  Address extends ServerAddress | string,
  Pending,
  Events extends Record<keyof Events, unknown[]>,
>
  extends EventEmitter<Events>
  implements HandlerServer, AsyncDisposable
{
  /** See {@link BaseServerOptions.drainTimeoutMs}. */
  static drainTimeoutMs = 10_000;

  /** The handler class; one instance serves each request. */
  readonly RequestHandlerClass: RequestHandlerClass<Request>;
  /** Where requests run. */
  readonly strategy: ConcurrencyStrategy<Request>;
  readonly handlerOptions: Readonly<Record<string, unknown>>;
  /** The address given, and after `serverBind()` the real one (the port picked for port 0). */
  serverAddress: Address;
  /** How long `handleRequest()` waits for a request, in ms; `undefined` (or 0) for forever. See {@link BaseServerOptions.timeoutMs}. */
  timeoutMs: number | undefined;
  /** How long `shutdown()` lets running requests finish, in ms. See {@link BaseServerOptions.drainTimeoutMs}. */
  drainTimeoutMs: number;

  /** Aborted when the server stops taking requests, with the reason: a requested stop or a failure. */
  readonly #stopController = new AbortController();
  /** Aborted to cut a graceful drain short. */
  readonly #forceController = new AbortController();
  #activation: Promise<void> | undefined;
  /** Why binding or activating failed: what serving re-raises, as `listening` does. */
  #activationFailure: Error | undefined;
  #strategyStart: Promise<void> | undefined;
  #isServing = false;
  #stopping: Promise<void> | undefined;
  #failure: Error | undefined;
  #removeAbortListener: (() => void) | undefined;
  #hasStopped = false;
  /** For subclasses: what `stats()` reports, which they count as requests come and go. */
  protected readonly counters: ServerCounters = {
    accepted: 0,
    refusedByVerifyRequest: 0,
    refusedByMaxConnections: 0,
    refusedByRequestQueueSize: 0,
    refusedByProxyProtocol: 0,
    refusedByHandshakes: 0,
    bytesIn: 0,
    bytesOut: 0,
    handlerErrors: 0,
    acceptErrors: 0,
    truncatedDatagrams: 0,
  };

  /** For subclasses: `serverAddress` validated by the subclass. */
  protected constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<Request>,
    options: BaseServerOptions<Request>,
  ) {
    super();
    const defaults = new.target;
    this.RequestHandlerClass = RequestHandlerClass;
    this.serverAddress = serverAddress;
    this.strategy = options.strategy ?? serialStrategy<Request>();
    this.handlerOptions = options.handlerOptions ?? {};
    this.timeoutMs = requireTimeoutMs('timeoutMs', options.timeoutMs);
    this.drainTimeoutMs = requireDelayMs('drainTimeoutMs', options.drainTimeoutMs ?? defaults.drainTimeoutMs);

    const { signal } = options;
    if (signal !== undefined) {
      const onAbort = (): void => void this.shutdown().catch((error: unknown) => this.fail(error));
      if (signal.aborted) queueMicrotask(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.#removeAbortListener = () => signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /** Settles when the server is bound and active; rejects if that failed. */
  get listening(): Promise<void> {
    return this.#activation ?? Promise.reject(new ServerStateError('serverActivate() was not called'));
  }

  /** What the server has done so far, and is doing; cheap enough to call on every scrape. */
  stats(): ServerStats {
    const { counters } = this;
    return {
      accepted: counters.accepted,
      active: this.activeRequests,
      waiting: this.waitingRequests,
      refused: {
        verifyRequest: counters.refusedByVerifyRequest,
        maxConnections: counters.refusedByMaxConnections,
        requestQueueSize: counters.refusedByRequestQueueSize,
        proxyProtocol: counters.refusedByProxyProtocol,
        handshakes: counters.refusedByHandshakes,
      },
      bytesIn: counters.bytesIn,
      bytesOut: counters.bytesOut,
      handlerErrors: counters.handlerErrors,
      acceptErrors: counters.acceptErrors,
      truncatedDatagrams: counters.truncatedDatagrams,
      workerRestarts: this.strategy.workerRestarts ?? 0,
      draining: this.#stopping !== undefined && !this.#hasStopped,
    };
  }

  /** For subclasses: requests being served now. */
  protected abstract get activeRequests(): number;

  /** For subclasses: requests waiting for a free slot of the strategy. */
  protected abstract get waitingRequests(): number;

  /** Whether `shutdown()` or `serverClose()` was called (or a failure closed the server). */
  protected get isStopping(): boolean {
    return this.#stopping !== undefined;
  }

  /**
   * For subclasses: the activation under way, whose outcome `serveForever()`, `handleRequest()` and
   * `listening` re-raise. A failure is kept as the reason serving fails.
   */
  protected setActivation(activation: Promise<void>): Promise<void> {
    this.#activation = activation;
    activation.catch((error: unknown) => {
      if (this.#activation === activation) this.#activationFailure = toError(error);
    });
    return activation;
  }

  /**
   * Serve until `shutdown()` or `serverClose()`, then resolve once the shutdown has completed.
   * Rejects with why binding or listening failed, with ERR_SERVER_CLOSED on a closed server, and
   * with ERR_SERVER_STATE if already serving.
   */
  async serveForever(): Promise<void> {
    this.#checkCanServe('serveForever');
    this.#isServing = true;
    try {
      await this.#ready();
      const stop = this.#stopController.signal;
      for (let next = await this.nextRequest(stop); next !== undefined; next = await this.nextRequest(stop)) {
        // Not awaited: the request runs on its own, tracked until it settles; it never rejects.
        void this.dispatchRequest(next);
        // Awaited only when it returns something: the default's undefined would cost every
        // request a promise turn for nothing.
        const actions = this.serviceActions();
        if (actions !== undefined) await actions;
      }
    } finally {
      this.#isServing = false;
    }
    await this.#stopping;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Serve exactly one request: wait for it (at most `timeoutMs`, then `handleTimeout()`), process
   * it, and resolve when it has finished.
   */
  async handleRequest(): Promise<void> {
    this.#checkCanServe('handleRequest');
    this.#isServing = true;
    try {
      await this.#ready();
      // 0 as well (the field may be set after construction, unchecked): no timeout.
      const timeout = this.timeoutMs ? AbortSignal.timeout(this.timeoutMs) : undefined;
      const stop = this.#stopController.signal;
      const next = await this.nextRequest(timeout === undefined ? stop : AbortSignal.any([stop, timeout]));
      if (next !== undefined) return await this.dispatchRequest(next);
      if (timeout?.aborted && !stop.aborted) await this.handleTimeout();
    } finally {
      this.#isServing = false;
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Stop gracefully, as Go's `Shutdown`: stop taking requests, let running ones finish for
   * `drainTimeoutMs` (0: no wait; or until `signal` aborts), then close what remains. Idempotent; a
   * second call waits on the first.
   */
  shutdown(options: { drainTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const drainTimeoutMs = requireDelayMs('drainTimeoutMs', options.drainTimeoutMs ?? this.drainTimeoutMs);
    this.#stopping ??= this.#stop(drainTimeoutMs, options.signal);
    return this.#stopping;
  }

  /** Close at once, as Go's `Close`: the socket and every request. Idempotent. */
  serverClose(): Promise<void> {
    this.#forceController.abort();
    this.#stopping ??= this.#stop(0, undefined);
    return this.#stopping;
  }

  /** `await using`: the same as `serverClose()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.serverClose();
  }

  /** Accept or refuse a request before any handler runs. Default: accept. */
  verifyRequest(_request: Request, _clientAddress: ClientAddress): boolean | Promise<boolean> {
    return true;
  }

  /** Hand the request to the strategy; resolves when it has finished. */
  processRequest(request: Request, clientAddress: ClientAddress): Promise<void> {
    return this.strategy.processRequest(request, clientAddress);
  }

  /** Build the handler and run it: setup, handle, and finish always. */
  finishRequest(request: Request, clientAddress: ClientAddress): Promise<void> {
    return runRequestHandler(this.RequestHandlerClass, request, clientAddress, this);
  }

  /**
   * Report a failed request. Default: one line on stderr with the client's address and the
   * error; the server keeps serving.
   */
  handleError(_request: Request | undefined, clientAddress: ClientAddress, error: unknown): void {
    process.stderr.write(
      `Error handling request from ${formatClientAddress(clientAddress)}: ${describeError(error)}\n`,
    );
  }

  /**
   * Report a failure that belongs to no single request, such as a worker of a strategy that
   * died (and was replaced), or a socket error. Default: one line on stderr.
   */
  handleServerError(error: unknown): void {
    process.stderr.write(`Server error: ${describeError(error)}\n`);
  }

  /** Called by `handleRequest()` when no request came within `timeoutMs`. Default: nothing. */
  handleTimeout(): void | Promise<void> {}

  /** Called by `serveForever()` after each request is dispatched. Default: nothing. */
  serviceActions(): void | Promise<void> {}

  /** For subclasses: the next request, once the strategy has a free slot; `undefined` when `signal` aborts. */
  protected abstract nextRequest(signal: AbortSignal): Promise<Pending | undefined>;

  /**
   * For subclasses: Python's `_handle_request_noblock`, `verifyRequest` then `processRequest`;
   * tracked until it settles, which it always does, never rejecting.
   */
  protected abstract dispatchRequest(next: Pending): Promise<void>;

  /**
   * For subclasses: stop after requests stopped being taken: let running ones finish until
   * `deadline` aborts (at once for `serverClose()`), then close what remains and the socket.
   */
  protected abstract stopServing(deadline: AbortSignal): Promise<void>;

  /** For subclasses: what a strategy's requests need besides themselves. */
  protected abstract requestSettings(): RequestSettings;

  /** For subclasses: serve one request on this thread, Python's `process_request_thread`; never rejects. */
  protected abstract serveRequestInThread(request: Request, clientAddress: ClientAddress): Promise<void>;

  /** For subclasses: report a failure of a request to `handleError`; one that throws is written to stderr. */
  protected reportError(request: Request | undefined, clientAddress: ClientAddress, error: unknown): void {
    this.counters.handlerErrors += 1;
    try {
      this.handleError(request, clientAddress, error);
    } catch (handlerError) {
      process.stderr.write(`handleError() failed: ${describeError(handlerError)}\n`);
    }
  }

  /** For subclasses: report a failure that belongs to no request to `handleServerError`. */
  protected reportServerError(error: unknown): void {
    try {
      this.handleServerError(error);
    } catch (handlerError) {
      process.stderr.write(`handleServerError() failed: ${describeError(handlerError)}\n`);
    }
  }

  /** For subclasses: the server's socket failed: keep the failure for `serveForever()` and close. */
  protected fail(error: unknown): void {
    this.#failure ??= toError(error);
    void this.serverClose();
  }

  #checkCanServe(method: string): void {
    // A failed bind or listen leaves the server closed: serving says why, not only that it is closed.
    if (this.#activationFailure !== undefined) throw this.#activationFailure;
    if (this.#stopping !== undefined) {
      throw new ServerClosedError(`${method}() on a server that was shut down or closed`);
    }
    if (this.#isServing) throw new ServerStateError(`${method}() while the server is already serving`);
    if (this.#activation === undefined) {
      throw new ServerStateError(
        `${method}() before serverActivate(); call serverBind() and serverActivate() first`,
      );
    }
  }

  async #ready(): Promise<void> {
    await this.#activation;
    await this.startStrategy();
  }

  /** For subclasses: start the strategy, once; later calls return the same promise. */
  protected startStrategy(): Promise<void> {
    this.#strategyStart ??= this.strategy.start(this.#strategyContext());
    return this.#strategyStart;
  }

  /**
   * For subclasses: the listening socket the strategy's workers accept from, when the server lets
   * them (see `ConcurrencyStrategy.acceptsConnections`). Default: none, the server accepts.
   */
  protected sharedListener(): SharedListener | undefined {
    return undefined;
  }

  /** For subclasses: a connection a strategy's worker accepted moved to `state`. Default: nothing. */
  protected recordConnectionState(
    _clientAddress: ClientAddress,
    _state: ConnectionState,
    _previous: ConnectionState | undefined,
  ): void {}

  /** For subclasses: a strategy's worker dropped a connection at accept. Default: nothing. */
  protected recordDrop(_clientAddress: ClientAddress, _reason: DropReason): void {}

  /** For subclasses: a strategy's worker refused a connection at accept. Default: reported to `handleError`. */
  protected recordRefusal(clientAddress: ClientAddress, error: Error): void {
    this.reportError(undefined, clientAddress, error);
  }

  /** For subclasses: a request handed to a strategy's worker ended its handshake there. Default: nothing. */
  protected recordHandshakeDone(_request: Request): void {}

  /** For subclasses: a listening socket failed to accept a connection. Default: reported as a server error. */
  protected handleAcceptError(error: NodeJS.ErrnoException): void {
    this.reportServerError(error);
  }

  #strategyContext(): StrategyContext<Request> {
    return {
      RequestHandlerClass: this.RequestHandlerClass,
      settings: this.requestSettings(),
      serveRequest: (request, clientAddress) => this.serveRequestInThread(request, clientAddress),
      handleError: (request, clientAddress, error) => this.reportError(request, clientAddress, error),
      handleServerError: (error) => this.reportServerError(error),
      recordTraffic: (bytesIn, bytesOut) => {
        this.counters.bytesIn += bytesIn;
        this.counters.bytesOut += bytesOut;
      },
      listener: this.sharedListener(),
      recordConnectionState: (clientAddress, state, previous) =>
        this.recordConnectionState(clientAddress, state, previous),
      recordDrop: (clientAddress, reason) => this.recordDrop(clientAddress, reason),
      recordAcceptError: (error) => this.handleAcceptError(error),
      recordHandshakeDone: (request) => this.recordHandshakeDone(request),
      recordRefusal: (clientAddress, error) => this.recordRefusal(clientAddress, error),
    };
  }

  async #stop(drainTimeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.#removeAbortListener?.();
    this.#stopController.abort(new ServerClosedError('the server is shutting down'));
    const deadline = AbortSignal.any(
      [AbortSignal.timeout(drainTimeoutMs), this.#forceController.signal, signal].filter(
        (s) => s !== undefined,
      ),
    );
    await this.stopServing(deadline);
    this.#hasStopped = true;
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The one line `handleError` prints for an error: its code and message, never a stack, with what
 * is not printable escaped by {@link printable}, so that no message can forge lines. The message
 * of a {@link SocketServerError} names paths and addresses already escaped by {@link printable}:
 * it is kept as it is, its backslashes not doubled again, unless it still has a character to
 * escape besides the backslash, then it is escaped whole. Any other error is described as it
 * came, then escaped.
 */
export function describeError(error: unknown): string {
  if (error instanceof SocketServerError) return `${error.code}: ${printableMessage(error.message)}`;
  if (error instanceof Error) {
    const { code } = error as NodeJS.ErrnoException;
    return printable(
      code !== undefined && !error.message.includes(code)
        ? `${code}: ${error.message}`
        : `${error.name}: ${error.message}`,
    );
  }
  return printable(String(error));
}

/** A message printable as made kept as it is (its backslashes already start escapes), any other escaped. */
function printableMessage(message: string): string {
  const escaped = printable(message);
  return escaped === message.replaceAll('\\', '\\\\') ? message : escaped;
}
