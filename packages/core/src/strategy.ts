import type { Socket } from 'node:net';
import type { ClientAddress } from './client-address.js';
import type { RequestHandlerClass } from './request-handler.js';
import type { TLSSettings } from './tls.js';
import type { ProxyProtocolSettings } from './proxy-protocol.js';

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
  /** Close a connection silent for this long, in ms; `undefined`: never. */
  readonly idleTimeoutMs: number | undefined;
  /** How long ending a request may wait for its output to flush, in ms. */
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
  /** Workers that died while serving and were replaced, for `stats()`; absent for in-thread strategies. */
  readonly workerRestarts?: number;
  /** Called once, before the first request; resolves when the strategy can take requests. */
  start(context: StrategyContext<Request>): Promise<void>;
  /**
   * Take ownership of an accepted socket and serve it. Resolves when the request is finished
   * and its socket closed; never rejects (failures go to `context.handleError`).
   */
  processRequest(request: Request, clientAddress: ClientAddress): Promise<void>;
  /** Stop taking requests and let running ones finish, until `signal` aborts. */
  drain(signal: AbortSignal): Promise<void>;
  /** Stop at once: end running requests and release threads, processes, timers. Idempotent. */
  close(): Promise<void>;
}
