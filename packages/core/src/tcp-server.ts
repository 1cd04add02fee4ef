import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Socket } from 'node:net';
import { clientAddressOf, formatClientAddress, type ClientAddress } from './client-address.js';
import { ConnectionRegistry, type Connection, type ConnectionState } from './connection-registry.js';
import { requireDelayMs, requireInteger, requireTimeoutMs } from './option-validators.js';
import { endRequest, serveRequest, serveRequestHandler, type RequestSteps } from './serve-request.js';
import { InThreadStrategy } from './in-thread-strategy.js';
import {
  BindError,
  InvalidOptionError,
  ServerClosedError,
  ServerStateError,
  SocketServerError,
  UnsupportedOptionError,
} from './errors.js';
import {
  rejectWith,
  runRequestHandler,
  type HandlerServer,
  type RequestHandlerClass,
} from './request-handler.js';
import { serialStrategy } from './serial-strategy.js';
import type { ConcurrencyStrategy, StrategyContext } from './strategy.js';

/** `[host, port]`, Python's `server_address`. Host `''` means every interface. */
export type ServerAddress = readonly [host: string, port: number];

/** Options of {@link TCPServer}. Unset ones take the class defaults (the static fields). */
export interface TCPServerOptions {
  /**
   * Bind and listen in the constructor. With `false`, set socket options, then call
   * `serverBind()` and `serverActivate()` yourself. Default `true`.
   */
  bindAndActivate?: boolean;
  /** Where requests run. Default {@link serialStrategy}: one at a time, as Python's TCPServer. */
  strategy?: ConcurrencyStrategy;
  /** SO_REUSEADDR. Default: the platform's (see {@link TCPServer.allowReuseAddress}). */
  allowReuseAddress?: boolean;
  /** SO_REUSEPORT: several listeners share the port. Default `false`. */
  allowReusePort?: boolean;
  /** IPV6_V6ONLY for an IPv6 host (`''` included). Default `false`: dual stack. */
  ipv6Only?: boolean;
  /**
   * Python's `address_family`, for host `''`: `'IPv4'` listens on 0.0.0.0 only, `'IPv6'` on `::`
   * (dual stack unless `ipv6Only`). Default `undefined`: `::` where the machine has IPv6, else 0.0.0.0.
   * A numeric host decides its own family.
   */
  addressFamily?: 'IPv4' | 'IPv6' | undefined;
  /**
   * The listen backlog, and the cap on accepted connections waiting for a free slot of the
   * strategy; beyond it a new connection is dropped (`'drop'` event). Default 128.
   */
  requestQueueSize?: number;
  /**
   * Cap on connections open at once, waiting or served. A connection beyond it is closed at
   * once and reported with a `'drop'` event, as Node's `server.maxConnections`. Default none.
   */
  maxConnections?: number;
  /** Close a connection that sent nothing for this many ms; reported to `handleError`. Default none. */
  idleTimeoutMs?: number;
  /** TCP_NODELAY on accepted sockets. Default `true`. */
  noDelay?: boolean;
  /** SO_KEEPALIVE on accepted sockets. Default `false`. */
  keepAlive?: boolean;
  /** Idle time before the first keep-alive probe, in ms. Default 0: the system's. */
  keepAliveInitialDelayMs?: number;
  /** How long `handleRequest()` waits for a connection before `handleTimeout()`, in ms. Default: forever. */
  timeoutMs?: number;
  /** How long `shutdown()` lets running requests finish before closing them, in ms. Default 10 000. */
  drainTimeoutMs?: number;
  /** A structured-clonable record handed to every request handler as `server.handlerOptions`. */
  handlerOptions?: Readonly<Record<string, unknown>>;
  /** Aborting it shuts the server down, as `shutdown()`. */
  signal?: AbortSignal;
}

/** Why a connection was dropped at accept. */
export interface DropEvent {
  /** The peer of the dropped connection. */
  readonly clientAddress: ClientAddress;
  /** The cap that was reached. */
  readonly reason: 'maxConnections' | 'requestQueueSize';
}

/** A connection moved to another state: accepted (`new`), served (`active`), gone (`closed`). */
export interface ConnectionStateEvent {
  /** The peer of the connection. */
  readonly clientAddress: ClientAddress;
  /** The state the connection moved to. */
  readonly state: ConnectionState;
}

/** Events of a {@link TCPServer}. */
export interface TCPServerEvents {
  /** A connection was closed at accept because `maxConnections` or `requestQueueSize` was reached. */
  drop: [event: DropEvent];
  /** A connection was accepted, began to be served, or closed. */
  connectionState: [event: ConnectionStateEvent];
}

type ServerState = 'created' | 'bound' | 'listening' | 'closing' | 'closed';

/**
 * A TCP server in Python's socketserver shape, with Node's promises, signals and disposal.
 *
 * For callers: `serveForever()`, `handleRequest()`, `shutdown()`, `serverClose()`,
 * `[Symbol.asyncDispose]()`, and with `bindAndActivate: false`, `serverBind()` then
 * `serverActivate()`.
 *
 * To override: `serverBind`, `serverActivate`, `verifyRequest`, `processRequest`,
 * `finishRequest`, `shutdownRequest`, `closeRequest`, `handleError`, `handleTimeout`,
 * `serviceActions`. Concurrency is not overridden here but chosen with a strategy.
 *
 * Accepted connections wait in an accept queue until the strategy has a free slot (serial: one
 * at a time); nothing is read from them before their handler runs.
 */
export class TCPServer extends EventEmitter<TCPServerEvents> implements HandlerServer, AsyncDisposable {
  /**
   * SO_REUSEADDR, the recipe's `allow_reuse_address`. On Unix, libuv sets it on every TCP
   * listener, so the default there is `true` and `false` cannot be honoured (serverBind throws
   * ERR_UNSUPPORTED_OPTION); on Windows it is never set, so the default is `false`.
   */
  static allowReuseAddress: boolean = process.platform !== 'win32';
  /** SO_REUSEPORT. Default `false`. */
  static allowReusePort = false;
  /** See {@link TCPServerOptions.requestQueueSize}. */
  static requestQueueSize = 128;
  /** See {@link TCPServerOptions.ipv6Only}. */
  static ipv6Only = false;
  /** See {@link TCPServerOptions.addressFamily}. */
  static addressFamily: 'IPv4' | 'IPv6' | undefined = undefined;
  /** See {@link TCPServerOptions.drainTimeoutMs}. */
  static drainTimeoutMs = 10_000;

  /** The handler class; one instance serves each connection. */
  readonly RequestHandlerClass: RequestHandlerClass;
  /** Where requests run. */
  readonly strategy: ConcurrencyStrategy;
  readonly handlerOptions: Readonly<Record<string, unknown>>;
  /** The address given, and after `serverBind()` the real one (the port picked for port 0). */
  serverAddress: ServerAddress;
  /** SO_REUSEADDR for the listener. See {@link TCPServerOptions.allowReuseAddress}. */
  allowReuseAddress: boolean;
  /** SO_REUSEPORT for the listener. See {@link TCPServerOptions.allowReusePort}. */
  allowReusePort: boolean;
  /** IPV6_V6ONLY for an IPv6 listener. See {@link TCPServerOptions.ipv6Only}. */
  ipv6Only: boolean;
  /** The family for host `''`. See {@link TCPServerOptions.addressFamily}. */
  addressFamily: 'IPv4' | 'IPv6' | undefined;
  /** The listen backlog and accept-queue cap. See {@link TCPServerOptions.requestQueueSize}. */
  requestQueueSize: number;
  /** Cap on connections open at once; `Infinity` when none. See {@link TCPServerOptions.maxConnections}. */
  maxConnections: number;
  /** Idle timeout per connection, in ms; `undefined` for none. See {@link TCPServerOptions.idleTimeoutMs}. */
  idleTimeoutMs: number | undefined;
  /** How long `handleRequest()` waits for a connection, in ms; `undefined` for forever. */
  timeoutMs: number | undefined;
  /** How long `shutdown()` lets running requests finish, in ms. See {@link TCPServerOptions.drainTimeoutMs}. */
  drainTimeoutMs: number;
  /** Connections closed at accept because of `maxConnections` or `requestQueueSize`. */
  droppedConnections = 0;

  readonly #listener: net.Server;
  readonly #registry = new ConnectionRegistry();
  /** Aborted when the server stops accepting, with the reason: a requested stop or a failure. */
  readonly #stopController = new AbortController();
  /** Aborted to cut a graceful drain short. */
  readonly #forceController = new AbortController();
  /** Requests dispatched and not settled; `#requestsSettled` resolves when it comes back to 0. */
  #runningRequests = 0;
  #requestsSettled: PromiseWithResolvers<void> | undefined;
  /** The steps of `serveRequest`, built once: nothing is allocated for them per connection. */
  readonly #requestSteps: RequestSteps = {
    finishRequest: (socket, address) => this.finishRequest(socket, address),
    shutdownRequest: (socket) => this.shutdownRequest(socket),
    reportError: (socket, address, error) => this.#reportError(socket, address, error),
  };
  /** The 'close' listener of every waiting socket, shared (`this` is the socket): no closure each. */
  readonly #onSocketClose: (this: Socket) => void = ((server: TCPServer) =>
    function onSocketClose(this: Socket): void {
      const connection = server.#registry.get(this);
      // Only a connection still waiting is forgotten here; a served one is when its request settles.
      if (connection?.state === 'new') server.#forget(connection);
    })(this);
  #state: ServerState = 'created';
  #boundSocket: net.BoundSocket | undefined;
  #activation: Promise<void> | undefined;
  #strategyStart: Promise<void> | undefined;
  #isServing = false;
  #stopping: Promise<void> | undefined;
  #failure: Error | undefined;
  /** Past the drain: what is left is closed on purpose (see #reportError). */
  #isClosingConnections = false;
  #removeAbortListener: (() => void) | undefined;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass,
    options: TCPServerOptions = {},
  ) {
    super();
    const defaults = new.target;
    this.RequestHandlerClass = RequestHandlerClass;
    this.serverAddress = validateServerAddress(serverAddress);
    this.strategy = options.strategy ?? serialStrategy();
    this.handlerOptions = options.handlerOptions ?? {};
    this.allowReuseAddress = options.allowReuseAddress ?? defaults.allowReuseAddress;
    this.allowReusePort = options.allowReusePort ?? defaults.allowReusePort;
    this.ipv6Only = options.ipv6Only ?? defaults.ipv6Only;
    this.addressFamily = options.addressFamily ?? defaults.addressFamily;
    if (this.addressFamily !== undefined && this.addressFamily !== 'IPv4' && this.addressFamily !== 'IPv6') {
      throw new InvalidOptionError('addressFamily', this.addressFamily, "'IPv4', 'IPv6' or undefined");
    }
    this.requestQueueSize = requireInteger(
      'requestQueueSize',
      options.requestQueueSize ?? defaults.requestQueueSize,
      1,
    );
    this.maxConnections =
      options.maxConnections === undefined
        ? Number.POSITIVE_INFINITY
        : requireInteger('maxConnections', options.maxConnections, 1);
    this.idleTimeoutMs = requireTimeoutMs('idleTimeoutMs', options.idleTimeoutMs);
    this.timeoutMs =
      options.timeoutMs === undefined ? undefined : requireDelayMs('timeoutMs', options.timeoutMs);
    this.drainTimeoutMs = requireDelayMs('drainTimeoutMs', options.drainTimeoutMs ?? defaults.drainTimeoutMs);
    const keepAliveInitialDelay = requireDelayMs(
      'keepAliveInitialDelayMs',
      options.keepAliveInitialDelayMs ?? 0,
    );

    this.#listener = net.createServer({
      // Handlers may answer after the peer's EOF (a half-close); shutdownRequest() ends the write side.
      allowHalfOpen: true,
      pauseOnConnect: true,
      noDelay: options.noDelay ?? true,
      keepAlive: options.keepAlive ?? false,
      keepAliveInitialDelay,
    });
    this.#listener.on('connection', (socket) => this.#onConnection(socket));
    this.#listener.on('error', (error) => this.#fail(error));

    const { signal } = options;
    if (signal !== undefined) {
      const onAbort = (): void => void this.shutdown().catch((error: unknown) => this.#fail(error));
      if (signal.aborted) queueMicrotask(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.#removeAbortListener = () => signal.removeEventListener('abort', onAbort);
      }
    }

    if (options.bindAndActivate ?? true) {
      this.serverBind();
      this.#activation = this.serverActivate();
      // Kept and re-raised by serveForever(), handleRequest() and `listening`.
      this.#activation.catch(() => {});
    }
  }

  /** The real port, known right after `serverBind()`. */
  get port(): number {
    return this.serverAddress[1];
  }

  /** Settles when the server is listening; rejects if activation failed. */
  get listening(): Promise<void> {
    return this.#activation ?? Promise.reject(new ServerStateError('serverActivate() was not called'));
  }

  /** Connections open now, waiting or served. */
  get connectionCount(): number {
    return this.#registry.size;
  }

  /**
   * Set a listening-socket option before `serverBind()`, the recipe's
   * `serv.socket.setsockopt(SOL_SOCKET, SO_REUSEADDR, True)`.
   */
  setSocketOption(option: 'SO_REUSEADDR' | 'SO_REUSEPORT' | 'IPV6_V6ONLY', value: boolean): void {
    if (this.#state !== 'created') {
      throw new ServerStateError(`set ${option} before serverBind(); the socket is already bound`);
    }
    if (option === 'SO_REUSEADDR') this.allowReuseAddress = value;
    else if (option === 'SO_REUSEPORT') this.allowReusePort = value;
    else this.ipv6Only = value;
  }

  /**
   * Bind the listening socket, synchronously (net.BoundSocket): a port in use fails here, with a
   * {@link BindError}, and the real port is known before listening.
   */
  serverBind(): void {
    if (this.#state !== 'created') throw new ServerStateError(`serverBind() on a ${this.#state} server`);
    checkReuseAddress(this.allowReuseAddress);
    const [host, port] = this.serverAddress;
    this.#boundSocket = bindListeningSocket(
      host,
      port,
      this.addressFamily,
      this.ipv6Only,
      this.allowReusePort,
    );
    this.serverAddress = [host, this.#boundSocket.address().port];
    this.#state = 'bound';
  }

  /** Start listening with `requestQueueSize` as the backlog. Resolves once listening. */
  serverActivate(): Promise<void> {
    const bound = this.#boundSocket;
    if (this.#state !== 'bound' || bound === undefined) {
      return Promise.reject(
        new ServerStateError(`serverActivate() on a ${this.#state} server; call serverBind() first`),
      );
    }
    this.#boundSocket = undefined;
    this.#state = 'listening';
    const [host, port] = this.serverAddress;
    const listening = new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        stopWaiting();
        this.#state = 'closed';
        reject(new BindError(host, port, error));
      };
      // On 'close' too: a server stopped before it was listening has nothing left to wait for.
      const onReady = (): void => {
        stopWaiting();
        resolve();
      };
      const stopWaiting = (): void => {
        this.#listener.off('error', onError).off('listening', onReady).off('close', onReady);
      };
      this.#listener.once('error', onError).once('listening', onReady).once('close', onReady);
    });
    this.#listener.listen(bound, this.requestQueueSize);
    this.#activation = listening;
    return listening;
  }

  /**
   * Serve until `shutdown()` or `serverClose()`, then resolve once the shutdown has completed.
   * Rejects if the listener fails, with ERR_SERVER_CLOSED on a closed server, and with
   * ERR_SERVER_STATE if already serving.
   */
  async serveForever(): Promise<void> {
    this.#checkCanServe('serveForever');
    this.#isServing = true;
    try {
      await this.#ready();
      const stop = this.#stopController.signal;
      for (
        let connection = await this.#nextRequest(stop);
        connection;
        connection = await this.#nextRequest(stop)
      ) {
        // Not awaited: the request runs on its own, tracked until it settles; it never rejects.
        void this.#dispatch(connection);
        await this.serviceActions();
      }
    } finally {
      this.#isServing = false;
    }
    await this.#stopping;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Serve exactly one request: wait for a connection (at most `timeoutMs`, then
   * `handleTimeout()`), process it, and resolve when it has finished.
   */
  async handleRequest(): Promise<void> {
    this.#checkCanServe('handleRequest');
    this.#isServing = true;
    try {
      await this.#ready();
      const timeout = this.timeoutMs === undefined ? undefined : AbortSignal.timeout(this.timeoutMs);
      const stop = this.#stopController.signal;
      const connection = await this.#nextRequest(
        timeout === undefined ? stop : AbortSignal.any([stop, timeout]),
      );
      if (connection !== undefined) return await this.#dispatch(connection);
      if (timeout?.aborted && !stop.aborted) await this.handleTimeout();
    } finally {
      this.#isServing = false;
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Stop gracefully, as Go's `Shutdown`: stop accepting, close connections still waiting in the
   * accept queue, let running requests finish for `drainTimeoutMs` (or until `signal` aborts),
   * then close what remains. Idempotent; a second call waits on the first. A handler that fails
   * because its connection was closed this way (ERR_CONNECTION_CLOSED) is not reported.
   */
  shutdown(options: { drainTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const drainTimeoutMs = requireDelayMs('drainTimeoutMs', options.drainTimeoutMs ?? this.drainTimeoutMs);
    this.#stopping ??= this.#stop(drainTimeoutMs, options.signal);
    return this.#stopping;
  }

  /** Close at once, as Go's `Close`: the listener and every connection. Idempotent. */
  serverClose(): Promise<void> {
    this.#forceController.abort();
    this.#stopping ??= this.#stop(0, undefined);
    return this.#stopping;
  }

  /** `await using`: the same as `serverClose()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.serverClose();
  }

  /** Accept or refuse a connection before any handler runs. Default: accept. */
  verifyRequest(_request: Socket, _clientAddress: ClientAddress): boolean | Promise<boolean> {
    return true;
  }

  /** Hand the request to the strategy; resolves when it has finished. */
  processRequest(request: Socket, clientAddress: ClientAddress): Promise<void> {
    return this.strategy.processRequest(request, clientAddress);
  }

  /** Build the handler and run it: setup, handle, and finish always. */
  finishRequest(request: Socket, clientAddress: ClientAddress): Promise<void> {
    return runRequestHandler(this.RequestHandlerClass, request, clientAddress, this);
  }

  /**
   * End a request: half-close the write side so the peer reads a clean EOF after all that was
   * written, then `closeRequest`. Waits at most `drainTimeoutMs` for the write side to flush.
   */
  async shutdownRequest(request: Socket): Promise<void> {
    // serverClose() and the end of a drain destroy the sockets still open, which ends this wait.
    await endRequest(request, this.drainTimeoutMs);
    this.closeRequest(request);
  }

  /** Release the socket. */
  closeRequest(request: Socket): void {
    request.destroy();
  }

  /**
   * Report a failed request. Default: one line on stderr with the client's address and the
   * error; the server keeps serving.
   */
  handleError(_request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    process.stderr.write(
      `Error handling request from ${formatClientAddress(clientAddress)}: ${describeError(error)}\n`,
    );
  }

  /**
   * Report a failure that belongs to no single request, such as a worker of a strategy that
   * died (and was replaced). Default: one line on stderr.
   */
  handleServerError(error: unknown): void {
    process.stderr.write(`Server error: ${describeError(error)}\n`);
  }

  /** Called by `handleRequest()` when no connection came within `timeoutMs`. Default: nothing. */
  handleTimeout(): void | Promise<void> {}

  /** Called by `serveForever()` after each accepted request. Default: nothing. */
  serviceActions(): void | Promise<void> {}

  #checkCanServe(method: string): void {
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

  #strategyContext(): StrategyContext {
    return {
      RequestHandlerClass: this.RequestHandlerClass,
      settings: {
        handlerOptions: this.handlerOptions,
        serverAddress: this.serverAddress,
        idleTimeoutMs: this.idleTimeoutMs,
        drainTimeoutMs: this.drainTimeoutMs,
      },
      serveRequest: (request, clientAddress) => this.#serveRequest(request, clientAddress),
      handleError: (request, clientAddress, error) => this.#reportError(request, clientAddress, error),
      handleServerError: (error) => {
        try {
          this.handleServerError(error);
        } catch (handlerError) {
          process.stderr.write(`handleServerError() failed: ${describeError(handlerError)}\n`);
        }
      },
    };
  }

  #onConnection(socket: Socket): void {
    // A connection may fail while it waits; its handler's reads see the failure.
    socket.on('error', ignoreError);
    const clientAddress = clientAddressOf(socket);
    if (clientAddress === undefined || this.#stopping !== undefined) {
      socket.destroy();
      return;
    }
    const reason =
      this.#registry.size >= this.maxConnections
        ? 'maxConnections'
        : this.#registry.waitingCount >= this.requestQueueSize
          ? 'requestQueueSize'
          : undefined;
    if (reason !== undefined) {
      socket.destroy();
      this.droppedConnections += 1;
      this.emit('drop', { clientAddress, reason });
      return;
    }
    this.#registry.add(socket, clientAddress);
    this.#emitConnectionState(clientAddress, 'new');
    socket.on('close', this.#onSocketClose);
  }

  /** The next connection, once the strategy has a free slot; `undefined` when `signal` aborts. */
  async #nextRequest(signal: AbortSignal): Promise<Connection | undefined> {
    while (!signal.aborted) {
      if (this.#registry.activeCount < this.strategy.maxConcurrentRequests) {
        const connection = this.#registry.takeNext();
        if (connection !== undefined) {
          // Only a waiting connection needs it: its request's end forgets a served one.
          connection.socket.off('close', this.#onSocketClose);
          this.#emitConnectionState(connection.clientAddress, 'active');
          return connection;
        }
      }
      await this.#registry.changed(signal);
    }
    return undefined;
  }

  /**
   * Python's `_handle_request_noblock`: verify, then process; tracked until it settles, which it
   * always does, never rejecting. A promise chain, not an async function: while a handler waits,
   * which is most of a connection's life, a chain holds one reaction, a suspended frame far more.
   */
  #dispatch(connection: Connection): Promise<void> {
    const { socket, clientAddress } = connection;
    this.#runningRequests += 1;
    let processing: Promise<void>;
    try {
      const isAccepted = this.verifyRequest(socket, clientAddress);
      if (isAccepted === true && this.#canServeInPlace()) {
        return serveRequestHandler(
          socket,
          clientAddress,
          this.#requestSteps,
          this.idleTimeoutMs,
          this.RequestHandlerClass,
          this,
          this.#onRequestServedInPlace,
        );
      }
      processing =
        typeof isAccepted === 'boolean'
          ? this.#processOrRefuse(socket, clientAddress, isAccepted)
          : isAccepted.then((verdict) => this.#processOrRefuse(socket, clientAddress, verdict));
    } catch (error) {
      processing = rejectWith(error); // thrown by an overridden verifyRequest or processRequest
    }
    return processing.then(
      () => this.#settle(connection),
      (error: unknown) => {
        this.#reportError(socket, clientAddress, error);
        this.closeRequest(socket);
        this.#settle(connection);
      },
    );
  }

  /**
   * Whether `processRequest` and `finishRequest` are the defaults and the strategy runs requests
   * on this thread: then a request can run through `serveRequestHandler`, one promise chain from
   * the handler to the end, which is what `processRequest` would do in more steps (and more
   * memory per waiting connection). An override of either hook takes the template path.
   */
  #canServeInPlace(): boolean {
    return (
      this.processRequest === TCPServer.prototype.processRequest &&
      this.finishRequest === TCPServer.prototype.finishRequest &&
      this.strategy instanceof InThreadStrategy &&
      this.strategy.processRequest === InThreadStrategy.prototype.processRequest
    );
  }

  /** The end of a request served in place: shared by all of them, so nothing is made per request. */
  readonly #onRequestServedInPlace = (socket: Socket): void => {
    const connection = this.#registry.get(socket);
    if (connection !== undefined) this.#settle(connection);
  };

  #processOrRefuse(socket: Socket, clientAddress: ClientAddress, isAccepted: boolean): Promise<void> {
    return isAccepted ? this.processRequest(socket, clientAddress) : this.shutdownRequest(socket);
  }

  /** The end of a dispatched request, however it went. */
  #settle(connection: Connection): void {
    this.#forget(connection);
    this.#runningRequests -= 1;
    if (this.#runningRequests === 0) this.#requestsSettled?.resolve();
  }

  #forget(connection: Connection): void {
    this.#registry.delete(connection.socket);
    this.#emitConnectionState(connection.clientAddress, 'closed');
  }

  /** Three times per connection: the event object is built only when someone listens. */
  #emitConnectionState(clientAddress: ClientAddress, state: ConnectionState): void {
    if (this.listenerCount('connectionState') > 0) this.emit('connectionState', { clientAddress, state });
  }

  /** Python's `process_request_thread`, for strategies that run requests on this thread. */
  #serveRequest(request: Socket, clientAddress: ClientAddress): Promise<void> {
    return serveRequest(request, clientAddress, this.#requestSteps, this.idleTimeoutMs);
  }

  #reportError(request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    // A connection the server itself closes after the drain makes its handler fail with
    // ERR_CONNECTION_CLOSED: the expected end of that connection, not a failure to report.
    if (this.#isClosingConnections && isConnectionClosed(error)) return;
    try {
      this.handleError(request, clientAddress, error);
    } catch (handlerError) {
      process.stderr.write(`handleError() failed: ${describeError(handlerError)}\n`);
    }
  }

  #fail(error: unknown): void {
    this.#failure ??= error instanceof Error ? error : new Error(String(error));
    if (this.#state === 'listening') void this.serverClose();
  }

  async #stop(drainTimeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.#state = 'closing';
    this.#removeAbortListener?.();
    this.#stopController.abort(new ServerClosedError('the server is shutting down'));
    this.#boundSocket?.close();
    this.#boundSocket = undefined;
    // Closes the listening socket now. Its 'close' event is not awaited: it waits for every
    // connection, including sockets handed to child processes, which Node asks those children about.
    if (this.#listener.listening) this.#listener.close();
    for (const waiting of this.#registry.inState('new')) waiting.socket.destroy();

    const deadline = AbortSignal.any(
      [AbortSignal.timeout(drainTimeoutMs), this.#forceController.signal, signal].filter(
        (s) => s !== undefined,
      ),
    );
    await Promise.all([this.#registry.whenEmpty(deadline), this.strategy.drain(deadline)]);
    this.#isClosingConnections = true;
    if (this.#registry.size > 0) {
      for (const { socket } of this.#registry.inState('active')) socket.destroy();
    }
    await this.strategy.close();
    if (this.#runningRequests > 0) {
      this.#requestsSettled = Promise.withResolvers();
      await this.#requestsSettled.promise;
    }
    this.#state = 'closed';
  }
}

/** The 'error' listener of a waiting socket: its handler's reads see the failure. */
function ignoreError(): void {}

function isConnectionClosed(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_CONNECTION_CLOSED';
}

/** The one line `handleError` prints for an error: its code and message, never a stack. */
export function describeError(error: unknown): string {
  if (error instanceof SocketServerError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) {
    const { code } = error as NodeJS.ErrnoException;
    return code !== undefined && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : `${error.name}: ${error.message}`;
  }
  return String(error);
}

function bindListeningSocket(
  host: string,
  port: number,
  addressFamily: 'IPv4' | 'IPv6' | undefined,
  ipv6Only: boolean,
  reusePort: boolean,
): net.BoundSocket {
  const bindTo = (address: string): net.BoundSocket =>
    new net.BoundSocket({ host: address, port, ipv6Only, reusePort });
  try {
    if (host !== '') return bindTo(host === 'localhost' ? '127.0.0.1' : host);
    if (addressFamily === 'IPv4') return bindTo('0.0.0.0');
    try {
      // '' means every interface: IPv6 and, unless ipv6Only, IPv4 on the same socket.
      return bindTo('::');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (addressFamily === 'IPv6' || ipv6Only || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL'))
        throw error;
      return bindTo('0.0.0.0');
    }
  } catch (error) {
    throw new BindError(host, port, error as NodeJS.ErrnoException);
  }
}

function checkReuseAddress(allowReuseAddress: boolean): void {
  if (process.platform === 'win32' && allowReuseAddress) {
    throw new UnsupportedOptionError('allowReuseAddress=true', 'libuv never sets SO_REUSEADDR on Windows');
  }
  if (process.platform !== 'win32' && !allowReuseAddress) {
    throw new UnsupportedOptionError(
      'allowReuseAddress=false',
      `libuv sets SO_REUSEADDR on every TCP listener on ${process.platform}`,
    );
  }
}

function validateServerAddress(serverAddress: ServerAddress): ServerAddress {
  if (!Array.isArray(serverAddress) || serverAddress.length !== 2) {
    throw new InvalidOptionError('serverAddress', serverAddress, '[host, port]');
  }
  const [host, port] = serverAddress;
  if (typeof host !== 'string')
    throw new InvalidOptionError('host', host, "a string ('' for every interface)");
  if (host !== '' && host !== 'localhost' && net.isIP(host) === 0) {
    throw new InvalidOptionError('host', host, "an IP address, 'localhost' or '' (resolve host names first)");
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidOptionError('port', port, 'an integer 0-65535');
  return [host, port];
}
