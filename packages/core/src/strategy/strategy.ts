import type { Socket } from 'node:net';
import type { ClientAddress } from '../support/client-address.js';
import type { RequestHandlerClass } from '../request/request-handler.js';
import type { TLSSettings } from '../connection-setup/tls.js';
import type { ProxyProtocolSettings } from '../connection-setup/proxy-protocol/trust.js';
import type { ConnectionState } from '../servers/connection-registry.js';
import type { HandshakeCap } from '../connection-setup/handshake-gate.js';

/**
 * How a strategy's workers get a listening socket of their own to accept from, when they accept
 * connections themselves (see {@link ConcurrencyStrategy.acceptsConnections}):
 * - `'inherit'`: they inherit the server's listening socket, its file descriptor
 *   ({@link SharedListener.fd}), as child processes can: one accept queue for all, and a worker
 *   that dies closes only its own copy;
 * - `'reusePort'`: each binds a socket of its own to the server's address with SO_REUSEPORT (the
 *   server binds its own with it too, and never listens on it: it only holds the port); the
 *   kernel spreads connections over them. A worker that dies closes only its own socket (the
 *   connections still in its accept queue are reset).
 */
export type ListenerSharing = 'inherit' | 'reusePort';

/**
 * Why a connection was closed at accept, unserved: a cap was reached (`maxConnections`,
 * `requestQueueSize`, or on connections in handshake, `maxHandshakes` and `maxHandshakesPerSource`).
 */
export type DropReason = 'maxConnections' | 'requestQueueSize' | HandshakeCap;

/**
 * The listening socket a strategy's workers accept from (all structured-clonable and JSON-safe):
 * given in {@link StrategyContext.listener} when the server lets them.
 */
export interface SharedListener {
  /** See {@link ListenerSharing}. */
  readonly sharing: ListenerSharing;
  /** The server's bound socket: open until the server closes, never listened on by the server. */
  readonly fd: number;
  /** Where a `'reusePort'` worker binds its own socket: the numeric host the server bound. */
  readonly host: string;
  /** The port the server bound (the real one, for port 0). */
  readonly port: number;
  /** IPV6_V6ONLY of the server's socket, for a `'reusePort'` worker's own. */
  readonly ipv6Only: boolean;
  /** The listen backlog. */
  readonly backlog: number;
  /** TCP_NODELAY on accepted sockets. */
  readonly noDelay: boolean;
  /** SO_KEEPALIVE on accepted sockets. */
  readonly keepAlive: boolean;
  /** Idle time before the first keep-alive probe, in ms; 0: the system's. */
  readonly keepAliveInitialDelay: number;
  /** The server's `maxConnections`, `0` for none: the strategy splits it among its workers. */
  readonly maxConnections: number;
  /** The server's `requestQueueSize`: the listen backlog, and the cap on connections waiting in a worker. */
  readonly requestQueueSize: number;
  /** The server's `maxHandshakes`, `0` for none (a plain server): the strategy splits it among its workers. */
  readonly maxHandshakes: number;
  /**
   * The server's `maxHandshakesPerSource`, `0` for none (or a PROXY server: its peers are its
   * proxies): the strategy splits it among its workers.
   */
  readonly maxHandshakesPerSource: number;
}

/**
 * What a request needs besides its socket, all structured-clonable: what a strategy sends to
 * another thread or process with the handler's location.
 */
export interface RequestSettings {
  /** The server's `handlerOptions`. */
  readonly handlerOptions: Readonly<Record<string, unknown>>;
  /** The server's real address: `[host, port]`, or a Unix socket path. */
  readonly serverAddress: readonly [host: string, port: number] | string;
  /**
   * What a request is: a connected socket (`'stream'`), or one datagram with the server's socket
   * to answer through (`'datagram'`, a `DatagramRequest`).
   */
  readonly requestKind: 'stream' | 'datagram';
  /** The server's TLS settings: a stream request is secured where it is served. `undefined`: plain. */
  readonly tls?: TLSSettings | undefined;
  /** The server's PROXY protocol settings: a stream request's header is read where it is served. `undefined`: none. */
  readonly proxyProtocol?: ProxyProtocolSettings | undefined;
  /** Close a connection silent for this long, in ms; `undefined` (or 0): never, as the server's `idleTimeoutMs`. */
  readonly idleTimeoutMs: number | undefined;
  /**
   * How long ending a request may wait for its output to flush, and a worker told to close may
   * take, in ms: the server's `drainTimeoutMs`. `0`: do not wait (an orderly wait, not a timeout).
   */
  readonly drainTimeoutMs: number;
}

/** What the server gives a strategy when it starts. `Request`: see {@link ConcurrencyStrategy}. */
export interface StrategyContext<Request = Socket> {
  /** The handler class; a strategy that runs it elsewhere sends its location (`locateRequestHandler`). */
  readonly RequestHandlerClass: RequestHandlerClass<Request>;
  /** What requests need besides their socket. */
  readonly settings: RequestSettings;
  /**
   * Serve one request in this thread, Python's `process_request_thread`: build the handler and
   * run it, report a failure to `handleError`, and always shut the request down. Never rejects.
   */
  serveRequest(request: Request, clientAddress: ClientAddress): Promise<void>;
  /** Report a failure of a request to the server's `handleError`. */
  handleError(request: Request | undefined, clientAddress: ClientAddress, error: unknown): void;
  /** Report a failure that belongs to no request (a worker that died) to `handleServerError`. */
  handleServerError(error: unknown): void;
  /**
   * Count bytes a request received and sent where the server cannot see them (a socket moved to a
   * worker), for `stats()`.
   */
  recordTraffic(bytesIn: number, bytesOut: number): void;
  /**
   * Set when the strategy's workers accept connections themselves (see
   * {@link ConcurrencyStrategy.acceptsConnections}): the listening socket they accept from, and
   * the caps they keep. `start()` then resolves once they listen; the server accepts nothing.
   */
  readonly listener: SharedListener | undefined;
  /**
   * A connection a worker accepted moved from `previous` to `state`: accepted (`new`, waiting for
   * a slot; `previous` undefined), served (`active`), gone (`closed`), for `stats()` and the
   * server's `connectionState` events.
   */
  recordConnectionState(
    clientAddress: ClientAddress,
    state: ConnectionState,
    previous: ConnectionState | undefined,
  ): void;
  /** A worker closed a connection at accept, unserved, because a cap was reached: a `'drop'` event. */
  recordDrop(clientAddress: ClientAddress, reason: DropReason): void;
  /**
   * A worker closed a connection at accept, unread, because its peer may not be served (an
   * untrusted PROXY peer, ERR_PROXY_PROTOCOL): counted as accepted and refused, and reported to
   * `handleError`, as the server does for the connections it accepts.
   */
  recordRefusal(clientAddress: ClientAddress, error: Error): void;
  /** A worker's listening socket failed to accept a connection: counted and reported as the server's own. */
  recordAcceptError(error: NodeJS.ErrnoException): void;
  /**
   * The handshake (PROXY header, TLS) of a connection the server handed over has ended where the
   * request runs, done or failed: it no longer counts against `maxHandshakes`. A strategy that
   * runs requests elsewhere calls it; the end of the request counts too, so a worker that dies
   * mid-handshake needs no call.
   */
  recordHandshakeDone(request: Request): void;
}

/**
 * The one seam for concurrency, like the mixins that override only Python's `process_request`.
 * The server accepts connections, applies its limits and keeps every connection in its
 * registry; the strategy decides only where and how each request runs. Accepted sockets come
 * paused (nothing has been read), so a strategy may hand a socket to another thread or process.
 *
 * `Request` is a connected `Socket` for stream servers and a `DatagramRequest` for datagram
 * servers (see `StrategyContext.settings.requestKind`); the in-thread strategies take either.
 */
export interface ConcurrencyStrategy<Request = Socket> {
  /** A name for messages and the CLI: 'serial', 'async', ... */
  readonly name: string;
  /**
   * How many requests run at once. The server keeps further connections waiting in its accept
   * queue until a running request finishes: 1 is Python's TCPServer, `Infinity` no limit.
   */
  readonly maxConcurrentRequests: number;
  /**
   * Set when the strategy's workers can accept connections themselves, and how they share the
   * listening socket (see {@link ListenerSharing}): no connection then passes through the
   * server's thread. The server lets them when it can keep its promises that way (a TCP server
   * whose `verifyRequest`, `processRequest` and `finishRequest` are the defaults, with a socket it
   * bound itself): it gives `start()` a {@link StrategyContext.listener}, starts
   * the strategy when it activates, and `drain()` must stop every worker accepting. Otherwise the
   * server accepts and calls `processRequest` as for any strategy. Absent: never.
   */
  readonly acceptsConnections?: ListenerSharing | undefined;
  /**
   * Set when `processRequest` does nothing but `context.serveRequest(request, clientAddress)` on
   * this thread, as the in-thread strategies do: the server may then run its request pipeline
   * itself, without the call (its fast path: one promise chain per connection from the handler to
   * the end). A strategy that does more in `processRequest` leaves it unset.
   */
  readonly servesInThread?: boolean;
  /** Workers that died while serving and were replaced, for `stats()`; absent for in-thread strategies. */
  readonly workerRestarts?: number;
  /** Called once, before the first request; resolves when the strategy can take requests. */
  start(context: StrategyContext<Request>): Promise<void>;
  /**
   * Take ownership of an accepted socket and serve it. Resolves when the request is finished
   * and its socket closed; never rejects (failures go to `context.handleError`).
   */
  processRequest(request: Request, clientAddress: ClientAddress): Promise<void>;
  /**
   * Stop taking requests (workers that accept stop accepting, and close the connections waiting
   * for a slot) and let running ones finish, until `signal` aborts.
   */
  drain(signal: AbortSignal): Promise<void>;
  /** Stop at once: end running requests and release threads, processes, timers. Idempotent. */
  close(): Promise<void>;
}
