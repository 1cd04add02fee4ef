import net from 'node:net';
import type { Socket } from 'node:net';
import { BaseServer, type BaseServerOptions } from './base-server.js';
import { BurstReport } from '../support/burst-report.js';
import type { ClientAddress } from '../support/client-address.js';
import { ConnectionRegistry, type Connection, type ConnectionState } from './connection-registry.js';
import { requireInteger, requireTimeoutMs } from '../support/option-validators.js';
import {
  endRequest,
  serveRequest,
  serveRequestHandler,
  type RequestSteps,
} from '../request/serve-request.js';
import { AcceptError, BindError, ServerStateError, type ProxyProtocolError } from '../support/errors.js';
import { rejectWith, type RequestHandlerClass } from '../request/request-handler.js';
import type { DropReason, ListenerSharing, RequestSettings, SharedListener } from '../strategy/strategy.js';
import { resolveTLSOptions, type TLSOptions, type TLSSettings } from '../connection-setup/tls.js';
import { connectionSetup, type ConnectionSetup } from '../connection-setup/connection-setup.js';
import { HandshakeGate, resolveHandshakeLimits } from '../connection-setup/handshake-gate.js';
import { publishAccepted, publishRefused } from '../request/diagnostics.js';
import { isAbstractPath, type ServerAddress } from '../platform/server-address.js';
import type { ProxyProtocolVersion } from '../connection-setup/proxy-protocol/parser.js';
import {
  proxyTrustCheck,
  resolveProxyProtocolOptions,
  type ProxyProtocolSettings,
} from '../connection-setup/proxy-protocol/trust.js';

/** Options of every stream server ({@link TCPServer}, {@link UnixStreamServer}). Unset ones take the class defaults (the static fields). */
export interface StreamServerOptions extends BaseServerOptions<Socket> {
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
  /**
   * Close a connection that sent nothing for this many ms (at most 2^31 - 1); reported to
   * `handleError` (ERR_IDLE_TIMEOUT). `0` turns it off, as in Node and Go. Default: off.
   */
  idleTimeoutMs?: number;
  /**
   * Serve this inherited listening socket, a file descriptor (3 from systemd socket activation: see
   * `listenFds()`), instead of binding `serverAddress`: `serverBind()` binds nothing and
   * `serverActivate()` starts accepting on it, after which `serverAddress` is its real address.
   * Default: bind `serverAddress`.
   */
  fd?: number;
  /**
   * Make every connection TLS (key, cert, ca, requestCert, ALPN). Handlers are unchanged: their
   * `request` is the TLS socket. The handshake runs where the request runs: in a worker thread or
   * process for those strategies, the raw socket being handed over before it. A client that fails
   * the handshake (a plain-TCP one, say) is closed and reported to `handleError`
   * (ERR_TLS_HANDSHAKE). Default: plain TCP.
   */
  tls?: TLSOptions;
  /**
   * Read a PROXY protocol header (HAProxy's; `'v1'`, `'v2'`, or `'any'` of the two) at the start of
   * every connection, where the request runs (in the worker for thread and process strategies),
   * before TLS and the handler: the handler's `clientAddress` is then the original client the load
   * balancer names (its own peer for a `LOCAL` header: a health check), and no header byte reaches
   * it. `verifyRequest` runs before, at accept, and sees the connection's peer: the proxy. A
   * connection from a peer that may not send a header (not in `proxyTrustedSources`, or a Unix peer
   * without `proxyTrustUnix`) is closed unread as soon as it is accepted, before it takes a slot, a
   * thread or a process; one with a malformed, truncated, oversized or late header is closed where
   * it is read. Either is reported to `handleError` (ERR_PROXY_PROTOCOL, its `reason`) and counted
   * in `stats().refused.proxyProtocol`. Default: none.
   */
  proxyProtocol?: ProxyProtocolVersion;
  /**
   * The peers allowed to send a PROXY header: IP addresses and ranges (`'10.0.0.0/8'`, `'fd00::/8'`).
   * Every TCP connection of a `proxyProtocol` server must come from one of them (Unix peers:
   * `proxyTrustUnix`). Default: loopback (`127.0.0.0/8`, `::1`).
   */
  proxyTrustedSources?: readonly string[];
  /**
   * Whether a Unix stream peer may send a PROXY header, for a `proxyProtocol` server on a Unix
   * socket (Unix peers have no address to check against `proxyTrustedSources`). Default: `true` for
   * a server bound to a filesystem path, whose file mode (`mode`) and directory say who may
   * connect, so set them to let only the proxy in; `false` for a Linux abstract name (`'\0name'`),
   * which any local process may connect to: it would be served as whichever client it names.
   */
  proxyTrustUnix?: boolean;
  /**
   * How long a trusted peer may take to send its whole PROXY header, in ms (at most 2^31 - 1); past
   * it the connection is closed and reported (ERR_PROXY_PROTOCOL). `0` turns the timeout off, as in
   * Node and Go. Default 10 000.
   */
  proxyHeaderTimeoutMs?: number;
  /** The longest PROXY v2 header taken (addresses and TLVs), in bytes. Default 4096. */
  maxProxyHeaderSize?: number;
  /**
   * Cap on connections in handshake at once, with `tls` or `proxyProtocol`: accepted, their PROXY
   * header or TLS handshake not over. A peer that connects and then sends nothing holds a
   * connection (and with a worker strategy, a worker, thread or process) until
   * `tls.handshakeTimeoutMs` or `proxyHeaderTimeoutMs`; beyond the cap a new connection is closed
   * at once and reported with a `'drop'` event (reason `'maxHandshakes'`), counted in
   * `stats().refused.handshakes`. Default 1024.
   */
  maxHandshakes?: number;
  /**
   * Cap on connections in handshake at once from one source (an IPv4 address, an IPv6 /64), with
   * `tls`: as `maxHandshakes`, so that one source cannot hold them all (reason
   * `'maxHandshakesPerSource'`). Set it below a pool's worker count for a public server whose
   * workers serve one connection each. Not applied with `proxyProtocol` (every peer is a proxy:
   * let it bound its clients) nor to Unix peers. Default: none.
   */
  maxHandshakesPerSource?: number;
}

/** Options of accepted sockets that a subclass passes to {@link StreamServer}'s constructor. */
export interface AcceptedSocketOptions {
  /** TCP_NODELAY. */
  noDelay: boolean;
  /** SO_KEEPALIVE. */
  keepAlive: boolean;
  /** Idle time before the first keep-alive probe, in ms; 0: the system's. */
  keepAliveInitialDelay: number;
}

/** Why a connection was dropped at accept. */
export interface DropEvent {
  /** The peer of the dropped connection. */
  readonly clientAddress: ClientAddress;
  /** The cap that was reached. */
  readonly reason: DropReason;
}

/** A connection moved to another state: accepted (`new`), served (`active`), gone (`closed`). */
export interface ConnectionStateEvent {
  /** The peer of the connection. */
  readonly clientAddress: ClientAddress;
  /** The state the connection moved to. */
  readonly state: ConnectionState;
}

/** Events of a stream server ({@link TCPServer}, {@link UnixStreamServer}). */
export interface StreamServerEvents {
  /** A connection was closed at accept because a cap was reached (see {@link DropReason}). */
  drop: [event: DropEvent];
  /** A connection was accepted, began to be served, or closed. */
  connectionState: [event: ConnectionStateEvent];
}

/** The events of a {@link TCPServer}: those of every stream server. */
export type TCPServerEvents = StreamServerEvents;

type ServerState = 'created' | 'bound' | 'listening' | 'closing' | 'closed';

/**
 * A stream server in Python's socketserver shape, with Node's promises, signals and disposal:
 * the lifecycle shared by {@link TCPServer} and {@link UnixStreamServer}, which say how to bind
 * (`bindSocket`) and who the peer of a connection is (`peerAddress`).
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
 * at a time); nothing is read from them before their handler runs. `shutdown()` closes the ones
 * still waiting at once, lets the served ones finish until the drain ends, then closes them; a
 * handler that fails because its connection was closed that way (ERR_CONNECTION_CLOSED) is not
 * reported.
 */
export abstract class StreamServer<Address extends ServerAddress | string> extends BaseServer<
  Socket,
  Address,
  Connection,
  StreamServerEvents
> {
  /** See {@link StreamServerOptions.requestQueueSize}. */
  static requestQueueSize = 128;
  /** The listen backlog and accept-queue cap. See {@link StreamServerOptions.requestQueueSize}. */
  requestQueueSize: number;
  /** Cap on connections open at once; `Infinity` when none. See {@link StreamServerOptions.maxConnections}. */
  maxConnections: number;
  /** Idle timeout per connection, in ms; `undefined` (or 0) for none. See {@link StreamServerOptions.idleTimeoutMs}. */
  idleTimeoutMs: number | undefined;
  /** Connections closed at accept because a cap was reached (see {@link DropReason}). */
  droppedConnections = 0;
  /** See {@link StreamServerOptions.maxHandshakes}. */
  readonly maxHandshakes: number;
  /** See {@link StreamServerOptions.maxHandshakesPerSource}; `Infinity` when none. */
  readonly maxHandshakesPerSource: number;
  /** The inherited listening socket served instead of a bound one; see {@link StreamServerOptions.fd}. */
  readonly inheritedFd: number | undefined;
  /** The TLS settings, checked; `undefined` for plain connections. See {@link StreamServerOptions.tls}. */
  readonly tls: TLSSettings | undefined;
  /** The PROXY protocol settings, checked; `undefined` when off. See {@link StreamServerOptions.proxyProtocol}. */
  readonly proxyProtocol: ProxyProtocolSettings | undefined;
  /** What runs on a connection served on this thread before its handler: PROXY header, TLS. */
  readonly #setUp: ConnectionSetup | undefined;
  /** The PROXY trust check, run at accept; `undefined` without `proxyProtocol`. */
  readonly #refuseProxy: ((peer: ClientAddress) => ProxyProtocolError | undefined) | undefined;
  /** Counts connections in handshake against the caps; `undefined` when there is no handshake. */
  readonly #handshakes: HandshakeGate | undefined;
  /** The accepted sockets whose handshake has not ended, each counted once in `#handshakes`. */
  readonly #inHandshake = new Set<Socket>();

  readonly #listener: net.Server;
  readonly #registry = new ConnectionRegistry();
  /** Requests dispatched and not settled; `#requestsSettled` resolves when it comes back to 0. */
  #runningRequests = 0;
  #requestsSettled: PromiseWithResolvers<void> | undefined;
  /** The steps of `serveRequest`, built once: nothing is allocated for them per connection. */
  readonly #requestSteps: RequestSteps = {
    finishRequest: (socket, address) => this.finishRequest(socket, address),
    shutdownRequest: (socket) => this.shutdownRequest(socket),
    reportError: (socket, address, error) => this.reportError(socket, address, error),
  };
  /** The 'close' listener of every waiting socket, shared (`this` is the socket): no closure each. */
  readonly #onSocketClose: (this: Socket) => void = ((server: StreamServer<Address>) =>
    function onSocketClose(this: Socket): void {
      const connection = server.#registry.get(this);
      // Only a connection still waiting is forgotten here; a served one is when its request settles.
      if (connection?.state === 'new') server.#forget(connection);
    })(this);
  #state: ServerState = 'created';
  #boundSocket: net.BoundSocket | undefined;
  /**
   * How the strategy's workers share the listening socket, when they accept connections
   * themselves (decided at `serverBind()`); `undefined`: this server accepts.
   */
  #sharing: ListenerSharing | undefined;
  /** The options of accepted sockets, for workers that accept themselves. */
  readonly #acceptedSocketOptions: AcceptedSocketOptions;
  /** Connections the strategy's workers accepted themselves, waiting for a slot and served. */
  #remoteWaiting = 0;
  #remoteActive = 0;
  /** Reports accept errors once per burst (see {@link StreamServer.handleAcceptError}). */
  readonly #acceptErrors = new BurstReport<NodeJS.ErrnoException>(
    acceptErrorReportMs,
    (error) =>
      this.reportServerError(
        new AcceptError(`cannot accept a connection: ${error.message}; still listening`, { cause: error }),
      ),
    (count) =>
      this.reportServerError(
        new AcceptError(
          `${count} more connection(s) could not be accepted in the last ${acceptErrorReportMs / 1000} s; still listening`,
        ),
      ),
  );
  /** Past the drain: what is left is closed on purpose (see reportError). */
  #isClosingConnections = false;

  /**
   * For subclasses: `serverAddress` validated by the subclass. The subclass's constructor ends
   * with {@link StreamServer.bindAndActivate} when `options.bindAndActivate` is not `false`.
   */
  protected constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass,
    options: StreamServerOptions,
    acceptedSocketOptions: AcceptedSocketOptions,
  ) {
    super(serverAddress, RequestHandlerClass, options);
    const defaults = new.target;
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
    this.inheritedFd = options.fd === undefined ? undefined : requireInteger('fd', options.fd, 0);
    this.tls = options.tls === undefined ? undefined : resolveTLSOptions(options.tls);
    const { proxyProtocol } = options;
    // An abstract name has no file mode: any local process may connect to it.
    const isAbstract = typeof serverAddress === 'string' && isAbstractPath(serverAddress);
    this.proxyProtocol =
      proxyProtocol === undefined
        ? undefined
        : resolveProxyProtocolOptions({ ...options, proxyProtocol }, !isAbstract);
    this.#refuseProxy = this.proxyProtocol === undefined ? undefined : proxyTrustCheck(this.proxyProtocol);
    this.#setUp = connectionSetup(this);
    const limits = resolveHandshakeLimits(options);
    this.maxHandshakes = limits.maxHandshakes;
    this.maxHandshakesPerSource = limits.maxHandshakesPerSource;
    this.#handshakes =
      this.#setUp === undefined
        ? undefined
        : new HandshakeGate(limits, { perSource: this.proxyProtocol === undefined });
    this.#acceptedSocketOptions = acceptedSocketOptions;

    this.#listener = net.createServer({
      // Handlers may answer after the peer's EOF (a half-close); shutdownRequest() ends the write side.
      allowHalfOpen: true,
      pauseOnConnect: true,
      ...acceptedSocketOptions,
    });
    this.#listener.on('connection', (socket) => this.#onConnection(socket));
    // A failure to listen is the activation's. One while listening is a failed accept, which
    // loses one connection and never the server; anything else closes the server.
    this.#listener.on('error', (error: NodeJS.ErrnoException) => {
      if (this.#state !== 'listening') return;
      if (error.syscall === 'accept') this.handleAcceptError(error);
      else this.fail(error);
    });
  }

  /**
   * Python's `bind_and_activate=True`: `serverBind()`, then `serverActivate()`, whose outcome
   * `serveForever()`, `handleRequest()` and `listening` re-raise. Called at the end of a
   * subclass's constructor, once its own settings are in place.
   */
  protected bindAndActivate(): void {
    this.serverBind();
    void this.serverActivate().catch(() => {});
  }

  /** Connections open now, waiting or served. */
  get connectionCount(): number {
    return this.#registry.size;
  }

  /** Whether `serverBind()` has run: socket options can no longer change. */
  protected get isBound(): boolean {
    return this.#state !== 'created';
  }

  /**
   * Whether the strategy's workers accept connections themselves, and how they share the
   * listening socket; known from `serverBind()`. `undefined`: this server accepts every
   * connection and hands it to the strategy.
   */
  get listenerSharing(): ListenerSharing | undefined {
    return this.#sharing;
  }

  /**
   * Bind the listening socket, synchronously (net.BoundSocket): an address in use fails here, with
   * a {@link BindError}, and the real address (the port picked for port 0) is known before listening.
   */
  serverBind(): void {
    if (this.#state !== 'created') throw new ServerStateError(`serverBind() on a ${this.#state} server`);
    this.#sharing = this.#chooseListenerSharing();
    // An inherited socket is bound already (systemd did it): nothing to bind.
    if (this.inheritedFd === undefined) this.#boundSocket = this.bindSocket();
    this.#state = 'bound';
  }

  /**
   * Whether the strategy's workers may accept connections themselves: only where every promise of
   * the server holds that way. `verifyRequest`, `processRequest` and `finishRequest` run here,
   * with the socket, so a server that overrides one accepts here; so does one on an inherited
   * socket (its address is known only once this server listens), and a Unix server (its workers
   * would not know their peers' addresses). Workers split `maxConnections` among them.
   */
  #chooseListenerSharing(): ListenerSharing | undefined {
    const sharing = this.strategy.acceptsConnections;
    if (
      sharing === undefined ||
      this.inheritedFd !== undefined ||
      !this.canShareListener(sharing) ||
      this.verifyRequest !== BaseServer.prototype.verifyRequest ||
      this.processRequest !== BaseServer.prototype.processRequest ||
      this.finishRequest !== BaseServer.prototype.finishRequest
    ) {
      return undefined;
    }
    return sharing;
  }

  /**
   * For subclasses: whether workers of this kind of server can share its listening socket that
   * way. Default: no; {@link TCPServer} can, both ways.
   */
  protected canShareListener(_sharing: ListenerSharing): boolean {
    return false;
  }

  /**
   * For subclasses: bind a socket to `serverAddress` and set `serverAddress` to the real address.
   * Throws a {@link BindError}.
   */
  protected abstract bindSocket(): net.BoundSocket;

  /** For subclasses: the peer of an accepted socket, or `undefined` once it has lost its peer. */
  protected abstract peerAddress(socket: Socket): ClientAddress | undefined;

  /**
   * For subclasses: the server's address from an inherited socket's (`net.Server.address()`); throws
   * an {@link InvalidOptionError} when the socket is not of this server's kind.
   */
  protected abstract inheritedAddress(address: net.AddressInfo | string | null): Address;

  /** Start listening with `requestQueueSize` as the backlog. Resolves once listening. */
  serverActivate(): Promise<void> {
    const bound = this.#boundSocket;
    const fd = this.inheritedFd;
    if (this.#state !== 'bound' || (bound === undefined && fd === undefined)) {
      return Promise.reject(
        new ServerStateError(`serverActivate() on a ${this.#state} server; call serverBind() first`),
      );
    }
    if (this.#sharing !== undefined) return this.#activateWorkers();
    this.#boundSocket = undefined;
    this.#state = 'listening';
    const listening = new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        stopWaiting();
        this.#state = 'closed';
        reject(new BindError(fd === undefined ? this.serverAddress : { fd }, error));
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
    if (fd === undefined) this.#listener.listen(bound, this.requestQueueSize);
    else {
      this.#listener.listen({ fd, backlog: this.requestQueueSize });
      try {
        // Known at once: the handle is made from the fd in listen().
        if (this.#listener.listening || this.#listener.address() !== null) {
          this.serverAddress = this.inheritedAddress(this.#listener.address());
        }
      } catch (error) {
        this.#listener.close();
        this.#state = 'closed';
        return this.setActivation(rejectWith(error));
      }
    }
    return this.setActivation(listening);
  }

  /**
   * Activation when the strategy's workers accept: this server keeps the bound socket (its
   * reservation of the address, and the descriptor `'inherit'` workers copy) and never listens
   * on it; the strategy starts now, and activation ends when its workers listen.
   */
  #activateWorkers(): Promise<void> {
    this.#state = 'listening';
    const started = this.startStrategy().catch((error: unknown) => {
      this.#state = 'closed';
      this.#boundSocket?.close();
      this.#boundSocket = undefined;
      throw error;
    });
    return this.setActivation(started);
  }

  protected override sharedListener(): SharedListener | undefined {
    const bound = this.#boundSocket;
    const sharing = this.#sharing;
    if (bound === undefined || sharing === undefined) return undefined;
    const { address, port } = bound.address();
    const { noDelay, keepAlive, keepAliveInitialDelay } = this.#acceptedSocketOptions;
    return {
      sharing,
      fd: bound.fd(),
      host: address,
      port,
      ipv6Only: this.listenerIPv6Only(),
      backlog: this.requestQueueSize,
      noDelay,
      keepAlive,
      keepAliveInitialDelay,
      maxConnections: Number.isFinite(this.maxConnections) ? this.maxConnections : 0,
      requestQueueSize: this.requestQueueSize,
      maxHandshakes: this.#handshakes === undefined ? 0 : this.maxHandshakes,
      maxHandshakesPerSource:
        this.#handshakes === undefined ||
        this.proxyProtocol !== undefined ||
        !Number.isFinite(this.maxHandshakesPerSource)
          ? 0
          : this.maxHandshakesPerSource,
    };
  }

  /** For subclasses: IPV6_V6ONLY of the listening socket, for `'reusePort'` workers. Default `false`. */
  protected listenerIPv6Only(): boolean {
    return false;
  }

  protected override recordConnectionState(
    clientAddress: ClientAddress,
    state: ConnectionState,
    previous: ConnectionState | undefined,
  ): void {
    if (previous === 'new') this.#remoteWaiting -= 1;
    else if (previous === 'active') this.#remoteActive -= 1;
    else {
      this.counters.accepted += 1;
      publishAccepted(this, clientAddress, undefined);
    }
    if (state === 'new') this.#remoteWaiting += 1;
    else if (state === 'active') this.#remoteActive += 1;
    this.#emitConnectionState(clientAddress, state);
  }

  protected override recordRefusal(clientAddress: ClientAddress, error: Error): void {
    this.counters.accepted += 1;
    publishRefused(this, clientAddress, 'proxyProtocol');
    super.recordRefusal(clientAddress, error);
  }

  protected override recordDrop(clientAddress: ClientAddress, reason: DropReason): void {
    this.counters.accepted += 1;
    this.#countDrop(clientAddress, reason);
  }

  #countDrop(clientAddress: ClientAddress, reason: DropReason): void {
    this.droppedConnections += 1;
    if (reason === 'maxConnections') this.counters.refusedByMaxConnections += 1;
    else if (reason === 'requestQueueSize') this.counters.refusedByRequestQueueSize += 1;
    else this.counters.refusedByHandshakes += 1;
    publishRefused(this, clientAddress, reason);
    this.emit('drop', { clientAddress, reason });
  }

  /**
   * A connection could not be accepted (the listening socket's `accept` failed: ENOBUFS, ENOMEM,
   * EMFILE where libuv could not absorb it, ...). The connection is lost, never the server: it is
   * counted in `stats().acceptErrors`, and reported to `handleServerError` once per burst (the
   * first failure at once, then at most one line a second saying how many followed), as Go's
   * server logs its accept back-off. libuv keeps the socket listening.
   */
  protected override handleAcceptError(error: NodeJS.ErrnoException): void {
    this.counters.acceptErrors += 1;
    this.#acceptErrors.record(error);
  }

  /**
   * Serve one request, as {@link BaseServer.handleRequest}; refused (ERR_SERVER_STATE) when the
   * strategy's workers accept connections themselves: they cannot be told to take exactly one.
   */
  override handleRequest(): Promise<void> {
    if (this.#sharing !== undefined) {
      return Promise.reject(
        new ServerStateError(
          `handleRequest() on a server whose ${this.strategy.name} workers accept connections themselves; ` +
            "use serveForever(), or a strategy that hands connections over (pool({ accept: 'main' }))",
        ),
      );
    }
    return super.handleRequest();
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

  protected override get activeRequests(): number {
    return this.#registry.activeCount + this.#remoteActive;
  }

  protected override get waitingRequests(): number {
    return this.#registry.waitingCount + this.#remoteWaiting;
  }

  protected override requestSettings(): RequestSettings {
    return {
      handlerOptions: this.handlerOptions,
      serverAddress: this.serverAddress,
      idleTimeoutMs: this.idleTimeoutMs,
      drainTimeoutMs: this.drainTimeoutMs,
      requestKind: 'stream',
      tls: this.tls,
      proxyProtocol: this.proxyProtocol,
    };
  }

  #onConnection(socket: Socket): void {
    // A connection may fail while it waits; its handler's reads see the failure.
    socket.on('error', ignoreError);
    const clientAddress = this.peerAddress(socket);
    if (clientAddress === undefined || this.isStopping) {
      socket.destroy();
      return;
    }
    this.counters.accepted += 1;
    // A peer that may not send a PROXY header is refused before it takes a slot, thread or process.
    const refusal = this.#refuseProxy?.(clientAddress);
    if (refusal !== undefined) {
      socket.destroy();
      publishRefused(this, clientAddress, 'proxyProtocol');
      this.reportError(socket, clientAddress, refusal);
      return;
    }
    const reason =
      this.#registry.size >= this.maxConnections
        ? 'maxConnections'
        : this.#registry.waitingCount >= this.requestQueueSize
          ? 'requestQueueSize'
          : this.#handshakes?.admit(clientAddress);
    if (reason !== undefined) {
      socket.destroy();
      this.#countDrop(clientAddress, reason);
      return;
    }
    if (this.#handshakes !== undefined) this.#inHandshake.add(socket);
    publishAccepted(this, clientAddress, socket);
    this.#registry.add(socket, clientAddress);
    this.#emitConnectionState(clientAddress, 'new');
    socket.on('close', this.#onSocketClose);
  }

  /** The next connection, once the strategy has a free slot; `undefined` when `signal` aborts. */
  protected override async nextRequest(signal: AbortSignal): Promise<Connection | undefined> {
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
      await this.#registry.takeable(signal);
    }
    return undefined;
  }

  /**
   * Python's `_handle_request_noblock`: verify, then process; tracked until it settles, which it
   * always does, never rejecting. A promise chain, not an async function: while a handler waits,
   * which is most of a connection's life, a chain holds one reaction, a suspended frame far more.
   */
  protected override dispatchRequest(connection: Connection): Promise<void> {
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
        this.reportError(socket, clientAddress, error);
        this.closeRequest(socket);
        this.#settle(connection);
      },
    );
  }

  /**
   * Whether a request can run through `serveRequestHandler`, one promise chain from the handler to
   * the end, the same steps as the template (`processRequest`, the strategy's `processRequest`,
   * `serveRequest` with `finishRequest`) in fewer promises, so less memory per waiting connection:
   * when the strategy says its `processRequest` only serves on this thread (`servesInThread`), and
   * this server's `processRequest` and `finishRequest` are the defaults (an override runs as the
   * template says), and there is no connection set-up (TLS, PROXY) to run first.
   */
  #canServeInPlace(): boolean {
    return (
      this.strategy.servesInThread === true &&
      this.#setUp === undefined &&
      this.processRequest === BaseServer.prototype.processRequest &&
      this.finishRequest === BaseServer.prototype.finishRequest
    );
  }

  /** The end of a request served in place: shared by all of them, so nothing is made per request. */
  readonly #onRequestServedInPlace = (socket: Socket): void => {
    const connection = this.#registry.get(socket);
    if (connection !== undefined) this.#settle(connection);
  };

  #processOrRefuse(socket: Socket, clientAddress: ClientAddress, isAccepted: boolean): Promise<void> {
    if (isAccepted) return this.processRequest(socket, clientAddress);
    this.counters.refusedByVerifyRequest += 1;
    publishRefused(this, clientAddress, 'verifyRequest');
    return this.shutdownRequest(socket);
  }

  /** The end of a dispatched request, however it went. */
  #settle(connection: Connection): void {
    this.#forget(connection);
    this.#runningRequests -= 1;
    if (this.#runningRequests === 0) this.#requestsSettled?.resolve();
  }

  #forget(connection: Connection): void {
    const { socket } = connection;
    // A socket moved to a worker thread or process counts nothing here: the worker reports its bytes.
    this.counters.bytesIn += socket.bytesRead;
    this.counters.bytesOut += socket.bytesWritten;
    this.#registry.delete(socket);
    if (this.#handshakes !== undefined) this.#endHandshake(socket, connection.clientAddress);
    this.#emitConnectionState(connection.clientAddress, 'closed');
  }

  /** `socket`'s handshake is over, or it never will be (its connection ended): it counts no more. */
  #endHandshake(socket: Socket, clientAddress: ClientAddress): void {
    if (this.#inHandshake.delete(socket)) this.#handshakes?.release(clientAddress);
  }

  protected override recordHandshakeDone(request: Socket): void {
    const connection = this.#registry.get(request);
    if (connection !== undefined) this.#endHandshake(request, connection.clientAddress);
  }

  /** Three times per connection: the event object is built only when someone listens. */
  #emitConnectionState(clientAddress: ClientAddress, state: ConnectionState): void {
    if (this.listenerCount('connectionState') > 0) this.emit('connectionState', { clientAddress, state });
  }

  /** Python's `process_request_thread`, for strategies that run requests on this thread. */
  protected override serveRequestInThread(request: Socket, clientAddress: ClientAddress): Promise<void> {
    const setUp = this.#setUp;
    if (setUp === undefined)
      return serveRequest(request, clientAddress, this.#requestSteps, this.idleTimeoutMs);
    return setUp(request, clientAddress).then(
      (ready) => {
        this.#endHandshake(request, clientAddress);
        return serveRequest(ready.socket, ready.clientAddress, this.#requestSteps, this.idleTimeoutMs);
      },
      (error: unknown) => {
        this.#endHandshake(request, clientAddress);
        this.reportError(request, clientAddress, error);
      },
    );
  }

  protected override reportError(
    request: Socket | undefined,
    clientAddress: ClientAddress,
    error: unknown,
  ): void {
    // A connection the server itself closes after the drain makes its handler fail with
    // ERR_CONNECTION_CLOSED: the expected end of that connection, not a failure to report.
    if (this.#isClosingConnections && isConnectionClosed(error)) return;
    // A refused PROXY header is also a refused connection; from a worker it comes as a code.
    if ((error as { code?: unknown } | null)?.code === 'ERR_PROXY_PROTOCOL') {
      this.counters.refusedByProxyProtocol += 1;
    }
    super.reportError(request, clientAddress, error);
  }

  /**
   * Stop accepting, close connections still waiting in the accept queue, let running requests
   * finish until `deadline`, then close what remains.
   */
  protected override async stopServing(deadline: AbortSignal): Promise<void> {
    this.#state = 'closing';
    this.#boundSocket?.close();
    this.#boundSocket = undefined;
    // Closes the listening socket now. Its 'close' event is not awaited: it waits for every
    // connection, including sockets handed to child processes, which Node asks those children about.
    if (this.#listener.listening) this.#listener.close();
    for (const waiting of this.#registry.inState('new')) waiting.socket.destroy();
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

/** Accept failures are reported at most once per this many ms (the first of a burst at once). */
const acceptErrorReportMs = 1_000;

/** The 'error' listener of a waiting socket: its handler's reads see the failure. */
function ignoreError(): void {}

function isConnectionClosed(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_CONNECTION_CLOSED';
}
