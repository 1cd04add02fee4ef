import { EventEmitter } from 'node:events';
import { formatClientAddress, type ClientAddress } from './client-address.js';
import type { DatagramAddress, DatagramRequest, DatagramSocket } from './datagram-socket.js';
import { DatagramTruncatedError, ServerClosedError, ServerStateError, SocketServerError } from './errors.js';
import { requireDelayMs, requireInteger } from './option-validators.js';
import {
  rejectWith,
  runRequestHandler,
  type HandlerServer,
  type RequestHandlerClass,
} from './request-handler.js';
import { serialStrategy } from './serial-strategy.js';
import type { ServerAddress } from './server-address.js';
import { describeError, type DropEvent } from './stream-server.js';
import type { ConcurrencyStrategy, StrategyContext } from './strategy.js';

/** Options of every datagram server ({@link UDPServer}, {@link UnixDatagramServer}). */
export interface DatagramServerOptions {
  /**
   * Bind in the constructor. With `false`, call `serverBind()` (which resolves once bound: binding
   * a datagram socket is asynchronous in Node) and `serverActivate()` yourself. Default `true`.
   */
  bindAndActivate?: boolean;
  /** Where requests run. Default {@link serialStrategy}: one datagram at a time, as Python's UDPServer. */
  strategy?: ConcurrencyStrategy<DatagramRequest>;
  /**
   * The most bytes of one datagram a handler gets, Python's `max_packet_size`. A longer datagram
   * is cut to it, as the system's `recvfrom` cuts it, and reported to `handleError`
   * (ERR_DATAGRAM_TRUNCATED). 1-65 535; default 8192.
   */
  maxPacketSize?: number;
  /**
   * Datagrams received and waiting for a free slot of the strategy; beyond it a datagram is
   * dropped (`'drop'` event), as a full socket buffer drops it. Default 128.
   */
  requestQueueSize?: number;
  /** How long `handleRequest()` waits for a datagram before `handleTimeout()`, in ms. Default: forever. */
  timeoutMs?: number;
  /** How long `shutdown()` lets running requests finish before closing the socket, in ms. Default 10 000. */
  drainTimeoutMs?: number;
  /** A structured-clonable record handed to every request handler as `server.handlerOptions`. */
  handlerOptions?: Readonly<Record<string, unknown>>;
  /** Aborting it shuts the server down, as `shutdown()`. */
  signal?: AbortSignal;
}

/** Events of a datagram server. */
export interface DatagramServerEvents {
  /** A datagram was dropped because `requestQueueSize` datagrams were already waiting. */
  drop: [event: DropEvent];
}

/** A bound datagram socket, as a subclass gives it to {@link DatagramServer}. */
export interface DatagramTransport {
  /** Send one datagram to an address already resolved for this socket. */
  send(data: Uint8Array, address: readonly [host: string, port: number] | string): Promise<void>;
  /** Close the socket (and remove its file, for a Unix path). */
  close(): void;
}

/** What a subclass's transport calls for each datagram received. */
export type DatagramReceiver = (data: Buffer, clientAddress: ClientAddress) => void;

/** A datagram received and waiting for a free slot of the strategy. */
interface WaitingRequest {
  readonly request: DatagramRequest;
  readonly clientAddress: ClientAddress;
}

type ServerState = 'created' | 'binding' | 'bound' | 'listening' | 'closing' | 'closed';

/**
 * A datagram server in Python's socketserver shape: one datagram is one request, handled by a
 * handler built for it with `request = [data, socket]`. The lifecycle of {@link TCPServer}:
 * `serverBind()`/`serverActivate()`, `serveForever()`, `handleRequest()` with `timeoutMs`,
 * `shutdown()` (with a drain), `serverClose()`, `verifyRequest()`, `handleError()`.
 *
 * For callers: `serveForever()`, `handleRequest()`, `shutdown()`, `serverClose()`,
 * `[Symbol.asyncDispose]()`, and with `bindAndActivate: false`, `serverBind()` then
 * `serverActivate()`.
 *
 * To override: `verifyRequest`, `processRequest`, `finishRequest`, `shutdownRequest`,
 * `closeRequest`, `handleError`, `handleServerError`, `handleTimeout`, `serviceActions`.
 * Subclasses say how to bind (`bindTransport`).
 *
 * Datagrams are read as they come (a datagram socket cannot be paused) into a queue bounded by
 * `requestQueueSize`; the strategy takes them from it as it has free slots.
 */
export abstract class DatagramServer<Address extends ServerAddress | string>
  extends EventEmitter<DatagramServerEvents>
  implements HandlerServer, AsyncDisposable
{
  /** See {@link DatagramServerOptions.maxPacketSize}. */
  static maxPacketSize = 8192;
  /** See {@link DatagramServerOptions.requestQueueSize}. */
  static requestQueueSize = 128;
  /** See {@link DatagramServerOptions.drainTimeoutMs}. */
  static drainTimeoutMs = 10_000;

  /** The handler class; one instance serves each datagram. */
  readonly RequestHandlerClass: RequestHandlerClass<DatagramRequest>;
  /** Where requests run. */
  readonly strategy: ConcurrencyStrategy<DatagramRequest>;
  readonly handlerOptions: Readonly<Record<string, unknown>>;
  /** The address given, and after `serverBind()` the real one (the port picked for port 0). */
  serverAddress: Address;
  /** See {@link DatagramServerOptions.maxPacketSize}. */
  maxPacketSize: number;
  /** See {@link DatagramServerOptions.requestQueueSize}. */
  requestQueueSize: number;
  /** How long `handleRequest()` waits for a datagram, in ms; `undefined` for forever. */
  timeoutMs: number | undefined;
  /** See {@link DatagramServerOptions.drainTimeoutMs}. */
  drainTimeoutMs: number;
  /** Datagrams dropped because the queue was full. */
  droppedDatagrams = 0;
  /** Datagrams longer than `maxPacketSize`, cut to it. */
  truncatedDatagrams = 0;
  /** The server's socket as handlers see it: `request[1]`. */
  readonly socket: DatagramSocket = {
    sendto: (data, address) => this.#send(data, address),
  };

  #state: ServerState = 'created';
  #transport: DatagramTransport | undefined;
  #activation: Promise<void> | undefined;
  #strategyStart: Promise<void> | undefined;
  #isServing = false;
  #stopping: Promise<void> | undefined;
  #failure: Error | undefined;
  /** Why `serverBind()` failed: what serving re-raises, as `listening` does. */
  #bindFailure: Error | undefined;
  readonly #queue: WaitingRequest[] = [];
  #runningRequests = 0;
  #changeWaiters: (() => void)[] = [];
  readonly #watchedSignals = new WeakSet<AbortSignal>();
  readonly #stopController = new AbortController();
  readonly #forceController = new AbortController();
  #removeAbortListener: (() => void) | undefined;

  /**
   * For subclasses: `serverAddress` validated by the subclass, whose constructor ends with
   * {@link DatagramServer.bindAndActivate} when `options.bindAndActivate` is not `false`.
   */
  protected constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: DatagramServerOptions,
  ) {
    super();
    const defaults = new.target;
    this.RequestHandlerClass = RequestHandlerClass;
    this.serverAddress = serverAddress;
    this.strategy = options.strategy ?? serialStrategy<DatagramRequest>();
    this.handlerOptions = options.handlerOptions ?? {};
    this.maxPacketSize = requireInteger(
      'maxPacketSize',
      options.maxPacketSize ?? defaults.maxPacketSize,
      1,
      65_535,
    );
    this.requestQueueSize = requireInteger(
      'requestQueueSize',
      options.requestQueueSize ?? defaults.requestQueueSize,
      1,
    );
    this.timeoutMs =
      options.timeoutMs === undefined ? undefined : requireDelayMs('timeoutMs', options.timeoutMs);
    this.drainTimeoutMs = requireDelayMs('drainTimeoutMs', options.drainTimeoutMs ?? defaults.drainTimeoutMs);

    const { signal } = options;
    if (signal !== undefined) {
      const onAbort = (): void => void this.shutdown().catch((error: unknown) => this.#fail(error));
      if (signal.aborted) queueMicrotask(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.#removeAbortListener = () => signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /**
   * Python's `bind_and_activate=True`: `serverBind()`, then `serverActivate()`, whose outcome
   * `serveForever()`, `handleRequest()` and `listening` re-raise.
   */
  protected bindAndActivate(): void {
    this.#activation = this.serverBind().then(() => this.serverActivate());
    this.#activation.catch(() => {});
  }

  /** Settles when the server is bound and active; rejects if binding failed. */
  get listening(): Promise<void> {
    return this.#activation ?? Promise.reject(new ServerStateError('serverBind() was not called'));
  }

  /** Datagrams received and waiting for the strategy. */
  get queuedDatagrams(): number {
    return this.#queue.length;
  }

  /**
   * Bind the socket. Resolves once bound, with `serverAddress` the real address; rejects with a
   * {@link BindError}. Datagrams are received (and queued) from then on.
   */
  serverBind(): Promise<void> {
    if (this.#state !== 'created') {
      return Promise.reject(new ServerStateError(`serverBind() on a ${this.#state} server`));
    }
    this.#state = 'binding';
    let binding: Promise<DatagramTransport>;
    try {
      binding = this.bindTransport((data, clientAddress) => this.#receive(data, clientAddress));
    } catch (error) {
      binding = rejectWith(error);
    }
    return binding.then(
      (transport) => {
        if (this.#state === 'binding') {
          this.#transport = transport;
          this.#state = 'bound';
        } else transport.close(); // closed while binding
      },
      (error: unknown) => {
        if (this.#state === 'binding') {
          this.#state = 'closed';
          this.#bindFailure = error instanceof Error ? error : new Error(String(error));
        }
        throw error;
      },
    );
  }

  /**
   * Python's `server_activate`, which for a datagram socket does nothing: there is no listen. Kept
   * for the lifecycle's shape; resolves at once on a bound server.
   */
  serverActivate(): Promise<void> {
    if (this.#state !== 'bound') {
      return Promise.reject(
        new ServerStateError(`serverActivate() on a ${this.#state} server; call serverBind() first`),
      );
    }
    this.#state = 'listening';
    this.#activation ??= Promise.resolve();
    return Promise.resolve();
  }

  /**
   * For subclasses: bind a socket to `serverAddress`, set `serverAddress` to the real address, and
   * call `receive` for each datagram. Rejects with a {@link BindError}.
   */
  protected abstract bindTransport(receive: DatagramReceiver): Promise<DatagramTransport>;

  /**
   * For subclasses: where a datagram to `address` goes on this socket, or a reason it cannot be
   * sent (an address of another family, an unnamed Unix peer).
   */
  protected abstract resolveDestination(
    address: DatagramAddress,
  ): readonly [host: string, port: number] | string | SocketServerError;

  /**
   * Serve until `shutdown()` or `serverClose()`, then resolve once the shutdown has completed.
   * Rejects if binding failed, with ERR_SERVER_CLOSED on a closed server, and with
   * ERR_SERVER_STATE if already serving.
   */
  async serveForever(): Promise<void> {
    this.#checkCanServe('serveForever');
    this.#isServing = true;
    try {
      await this.#ready();
      const stop = this.#stopController.signal;
      for (let next = await this.#nextRequest(stop); next; next = await this.#nextRequest(stop)) {
        void this.#dispatch(next);
        await this.serviceActions();
      }
    } finally {
      this.#isServing = false;
    }
    await this.#stopping;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Serve exactly one datagram: wait for one (at most `timeoutMs`, then `handleTimeout()`), process
   * it, and resolve when its handler has finished.
   */
  async handleRequest(): Promise<void> {
    this.#checkCanServe('handleRequest');
    this.#isServing = true;
    try {
      await this.#ready();
      const timeout = this.timeoutMs === undefined ? undefined : AbortSignal.timeout(this.timeoutMs);
      const stop = this.#stopController.signal;
      const next = await this.#nextRequest(timeout === undefined ? stop : AbortSignal.any([stop, timeout]));
      if (next !== undefined) return await this.#dispatch(next);
      if (timeout?.aborted && !stop.aborted) await this.handleTimeout();
    } finally {
      this.#isServing = false;
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Stop gracefully: stop taking datagrams (those still queued are dropped), let running requests
   * finish for `drainTimeoutMs` (or until `signal` aborts), then close the socket, whose sends
   * fail from then on with ERR_SEND_FAILED. Idempotent; a second call waits on the first.
   */
  shutdown(options: { drainTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const drainTimeoutMs = requireDelayMs('drainTimeoutMs', options.drainTimeoutMs ?? this.drainTimeoutMs);
    this.#stopping ??= this.#stop(drainTimeoutMs, options.signal);
    return this.#stopping;
  }

  /** Close at once: the socket, the strategy, and queued datagrams. Idempotent. */
  serverClose(): Promise<void> {
    this.#forceController.abort();
    this.#stopping ??= this.#stop(0, undefined);
    return this.#stopping;
  }

  /** `await using`: the same as `serverClose()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.serverClose();
  }

  /** Accept or refuse a datagram before any handler runs. Default: accept. */
  verifyRequest(_request: DatagramRequest, _clientAddress: ClientAddress): boolean | Promise<boolean> {
    return true;
  }

  /** Hand the request to the strategy; resolves when it has finished. */
  processRequest(request: DatagramRequest, clientAddress: ClientAddress): Promise<void> {
    return this.strategy.processRequest(request, clientAddress);
  }

  /** Build the handler and run it: setup, handle, and finish always. */
  finishRequest(request: DatagramRequest, clientAddress: ClientAddress): Promise<void> {
    return runRequestHandler(this.RequestHandlerClass, request, clientAddress, this);
  }

  /** End a request. A datagram has no connection to end: by default this calls `closeRequest`. */
  shutdownRequest(request: DatagramRequest): void | Promise<void> {
    return this.closeRequest(request);
  }

  /** Release a request. Default: nothing (the socket is the server's), as Python's UDPServer. */
  closeRequest(_request: DatagramRequest): void | Promise<void> {}

  /**
   * Report a failed request, or a datagram cut to `maxPacketSize`. Default: one line on stderr with
   * the client's address and the error; the server keeps serving.
   */
  handleError(_request: DatagramRequest | undefined, clientAddress: ClientAddress, error: unknown): void {
    process.stderr.write(
      `Error handling request from ${formatClientAddress(clientAddress)}: ${describeError(error)}\n`,
    );
  }

  /** Report a failure that belongs to no single request (a socket error, a worker that died). */
  handleServerError(error: unknown): void {
    process.stderr.write(`Server error: ${describeError(error)}\n`);
  }

  /** Called by `handleRequest()` when no datagram came within `timeoutMs`. Default: nothing. */
  handleTimeout(): void | Promise<void> {}

  /** Called by `serveForever()` after each datagram is dispatched. Default: nothing. */
  serviceActions(): void | Promise<void> {}

  /** For subclasses: report a failure of the socket itself to `handleServerError`. */
  protected reportServerError(error: unknown): void {
    try {
      this.handleServerError(error);
    } catch (handlerError) {
      process.stderr.write(`handleServerError() failed: ${describeError(handlerError)}\n`);
    }
  }

  #receive(data: Buffer, clientAddress: ClientAddress): void {
    if (this.#stopping !== undefined) return;
    if (this.#queue.length >= this.requestQueueSize) {
      this.droppedDatagrams += 1;
      this.emit('drop', { clientAddress, reason: 'requestQueueSize' });
      return;
    }
    let packet = data;
    if (data.length > this.maxPacketSize) {
      packet = data.subarray(0, this.maxPacketSize);
      this.truncatedDatagrams += 1;
    }
    const request: DatagramRequest = [packet, this.socket];
    if (packet !== data) {
      this.#reportError(request, clientAddress, new DatagramTruncatedError(data.length, this.maxPacketSize));
    }
    this.#queue.push({ request, clientAddress });
    this.#notify();
  }

  #send(data: Uint8Array | string, address: DatagramAddress): Promise<void> {
    const transport = this.#transport;
    if (transport === undefined || this.#state === 'closed') {
      return Promise.reject(new SocketServerError('ERR_SEND_FAILED', 'cannot send: the server is closed'));
    }
    const destination = this.resolveDestination(address);
    if (destination instanceof SocketServerError) return Promise.reject(destination);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return transport.send(bytes, destination);
  }

  #checkCanServe(method: string): void {
    // A failed bind leaves the server closed: serving says why, not only that it is closed.
    if (this.#bindFailure !== undefined && this.#stopping === undefined) throw this.#bindFailure;
    if (this.#stopping !== undefined || this.#state === 'closing' || this.#state === 'closed') {
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
    this.#strategyStart ??= this.strategy.start(this.#strategyContext());
    await this.#strategyStart;
  }

  #strategyContext(): StrategyContext<DatagramRequest> {
    return {
      RequestHandlerClass: this.RequestHandlerClass,
      settings: {
        handlerOptions: this.handlerOptions,
        serverAddress: this.serverAddress,
        idleTimeoutMs: undefined,
        drainTimeoutMs: this.drainTimeoutMs,
        requestKind: 'datagram',
      },
      serveRequest: (request, clientAddress) => this.#serveRequest(request, clientAddress),
      handleError: (request, clientAddress, error) => this.#reportError(request, clientAddress, error),
      handleServerError: (error) => this.reportServerError(error),
    };
  }

  /** The next datagram, once the strategy has a free slot; `undefined` when `signal` aborts. */
  async #nextRequest(signal: AbortSignal): Promise<WaitingRequest | undefined> {
    while (!signal.aborted) {
      if (this.#runningRequests < this.strategy.maxConcurrentRequests) {
        const next = this.#queue.shift();
        if (next !== undefined) return next;
      }
      await this.#changed(signal);
    }
    return undefined;
  }

  /** Verify, then process; tracked until it settles, which it always does, never rejecting. */
  #dispatch({ request, clientAddress }: WaitingRequest): Promise<void> {
    this.#runningRequests += 1;
    let processing: Promise<void>;
    try {
      const verdict = this.verifyRequest(request, clientAddress);
      processing =
        typeof verdict === 'boolean'
          ? this.#processOrRefuse(request, clientAddress, verdict)
          : verdict.then((isAccepted) => this.#processOrRefuse(request, clientAddress, isAccepted));
    } catch (error) {
      processing = rejectWith(error);
    }
    return processing
      .catch((error: unknown) => this.#reportError(request, clientAddress, error))
      .finally(() => {
        this.#runningRequests -= 1;
        this.#notify();
      });
  }

  #processOrRefuse(
    request: DatagramRequest,
    clientAddress: ClientAddress,
    isAccepted: boolean,
  ): Promise<void> {
    return isAccepted
      ? this.processRequest(request, clientAddress)
      : Promise.resolve(this.shutdownRequest(request));
  }

  /** Python's `process_request_thread`: `finishRequest`, its failure reported, `shutdownRequest` always. */
  #serveRequest(request: DatagramRequest, clientAddress: ClientAddress): Promise<void> {
    let finishing: Promise<void>;
    try {
      finishing = this.finishRequest(request, clientAddress);
    } catch (error) {
      finishing = rejectWith(error);
    }
    return finishing
      .catch((error: unknown) => this.#reportError(request, clientAddress, error))
      .then(() => this.shutdownRequest(request))
      .catch((error: unknown) => this.#reportError(request, clientAddress, error));
  }

  #reportError(request: DatagramRequest | undefined, clientAddress: ClientAddress, error: unknown): void {
    try {
      this.handleError(request, clientAddress, error);
    } catch (handlerError) {
      process.stderr.write(`handleError() failed: ${describeError(handlerError)}\n`);
    }
  }

  #fail(error: unknown): void {
    this.#failure ??= error instanceof Error ? error : new Error(String(error));
    void this.serverClose();
  }

  /** Resolves on the next datagram or finished request, or when `signal` aborts. */
  #changed(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    if (!this.#watchedSignals.has(signal)) {
      this.#watchedSignals.add(signal);
      signal.addEventListener('abort', () => this.#notify(), { once: true });
    }
    return new Promise((resolve) => this.#changeWaiters.push(resolve));
  }

  #notify(): void {
    const waiters = this.#changeWaiters;
    this.#changeWaiters = [];
    for (const wake of waiters) wake();
  }

  async #stop(drainTimeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.#state = this.#state === 'created' ? 'closed' : 'closing';
    this.#removeAbortListener?.();
    this.#stopController.abort(new ServerClosedError('the server is shutting down'));
    this.#queue.length = 0;
    const deadline = AbortSignal.any(
      [AbortSignal.timeout(drainTimeoutMs), this.#forceController.signal, signal].filter(
        (s) => s !== undefined,
      ),
    );
    await Promise.all([this.#whenIdle(deadline), this.strategy.drain(deadline)]);
    await this.strategy.close();
    this.#state = 'closed';
    this.#transport?.close();
    this.#transport = undefined;
  }

  /** Resolves once no request runs, or when `signal` aborts. */
  async #whenIdle(signal: AbortSignal): Promise<void> {
    while (this.#runningRequests > 0 && !signal.aborted) await this.#changed(signal);
  }
}
