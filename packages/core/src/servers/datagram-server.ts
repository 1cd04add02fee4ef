import { BaseServer, type BaseServerOptions } from './base-server.js';
import { BurstReport } from '../support/burst-report.js';
import { ChangeSignal } from '../support/change-signal.js';
import type { ClientAddress } from '../support/client-address.js';
import type { DatagramAddress, DatagramRequest, DatagramSocket } from './datagram-socket.js';
import { DatagramTruncatedError, SendError, ServerStateError } from '../support/errors.js';
import { requireInteger } from '../support/option-validators.js';
import { rejectWith, type RequestHandlerClass } from '../request/request-handler.js';
import type { ServerAddress } from '../platform/server-address.js';
import type { DropEvent } from './stream-server.js';
import type { RequestSettings } from '../strategy/strategy.js';

/** Options of every datagram server ({@link UDPServer}, {@link UnixDatagramServer}). */
export interface DatagramServerOptions extends BaseServerOptions<DatagramRequest> {
  /**
   * Bind in the constructor. With `false`, call `serverBind()` (which resolves once bound: binding
   * a datagram socket is asynchronous in Node) and `serverActivate()` yourself. Default `true`.
   */
  bindAndActivate?: boolean;
  /**
   * The most bytes of one datagram a handler gets, Python's `max_packet_size`. A longer datagram
   * is cut to it, as the system's `recvfrom` cuts it, and reported to `handleError`
   * (ERR_DATAGRAM_TRUNCATED) once per burst: the first at once, then at most one report a second
   * saying how many more were cut. Each is counted in `stats().truncatedDatagrams`. 1-65 535;
   * default 8192.
   */
  maxPacketSize?: number;
  /**
   * Datagrams received and waiting for a free slot of the strategy; beyond it a datagram is
   * dropped (`'drop'` event, `stats().refused.requestQueueSize`), as a full socket buffer drops
   * it. Default 128.
   */
  requestQueueSize?: number;
  /**
   * The most requests (datagrams being handled) running at once; beyond it datagrams wait in the
   * queue (`requestQueueSize`), then are dropped. The server runs at most the lower of this and
   * the strategy's own bound (1 for the serial strategy, its threads for a pool, none for the
   * event-loop strategy). A datagram has no connection whose count `maxConnections` bounds, so
   * without this the event-loop strategy would start a handler for every datagram that arrives,
   * each holding its buffer and its pending work: a flood of 10 000 datagrams to a slow handler
   * would be 10 000 handlers. The default, 1024, is far above what a handler that answers at once
   * ever needs (it finishes long before the next thousand datagrams arrive) and keeps a flood's
   * memory to about 1024 × `maxPacketSize` (8 MiB by default), the order of the 1024 open files a
   * stream server typically gets per process. An integer >= 1, or `Infinity` for no bound of the
   * server's own.
   */
  maxConcurrentRequests?: number;
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
export interface QueuedDatagram {
  /** The request its handler gets: `[data, socket]`. */
  readonly request: DatagramRequest;
  /** Its sender. */
  readonly clientAddress: ClientAddress;
}

type ServerState = 'created' | 'binding' | 'bound' | 'listening' | 'closing' | 'closed';

/**
 * A datagram server in Python's socketserver shape: one datagram is one request, handled by a
 * handler built for it with `request = [data, socket]`. The lifecycle of every server
 * ({@link BaseServer}): `serverBind()`/`serverActivate()`, `serveForever()`, `handleRequest()`
 * with `timeoutMs`, `shutdown()` (with a drain), `serverClose()`, `verifyRequest()`,
 * `handleError()`.
 *
 * For callers: `serveForever()`, `handleRequest()`, `shutdown()`, `serverClose()`,
 * `[Symbol.asyncDispose]()`, and with `bindAndActivate: false`, `serverBind()` then
 * `serverActivate()`.
 *
 * To override: `verifyRequest`, `processRequest`, `finishRequest`, `shutdownRequest`,
 * `closeRequest`, `handleError`, `handleServerError`, `handleTimeout`, `serviceActions`.
 * Subclasses say how to bind (`bindTransport`) and where a reply goes (`resolveDestination`).
 *
 * Datagrams are read as they come (a datagram socket cannot be paused) into a queue bounded by
 * `requestQueueSize`; the strategy takes them from it as it has free slots. `shutdown()` drops the
 * queued ones, lets running handlers finish until the drain ends, then closes the socket, whose
 * sends fail from then on with ERR_SEND_FAILED.
 */
export abstract class DatagramServer<Address extends ServerAddress | string> extends BaseServer<
  DatagramRequest,
  Address,
  QueuedDatagram,
  DatagramServerEvents
> {
  /** See {@link DatagramServerOptions.maxPacketSize}. */
  static maxPacketSize = 8192;
  /** See {@link DatagramServerOptions.requestQueueSize}. */
  static requestQueueSize = 128;
  /** See {@link DatagramServerOptions.maxConcurrentRequests}. */
  static maxConcurrentRequests = 1024;

  /** See {@link DatagramServerOptions.maxPacketSize}. */
  maxPacketSize: number;
  /** See {@link DatagramServerOptions.requestQueueSize}. */
  requestQueueSize: number;
  /** See {@link DatagramServerOptions.maxConcurrentRequests}. */
  maxConcurrentRequests: number;
  /** Datagrams dropped because the queue was full. */
  droppedDatagrams = 0;
  /** The server's socket as handlers see it: `request[1]`. */
  readonly socket: DatagramSocket = {
    sendTo: (data, address) => this.#send(data, address),
  };

  #state: ServerState = 'created';
  #transport: DatagramTransport | undefined;
  readonly #queue: QueuedDatagram[] = [];
  #runningRequests = 0;
  /** Notified when a datagram is queued or a request settles. */
  readonly #changes = new ChangeSignal();
  /** Reports truncated datagrams once per burst (see `#reportTruncation`). */
  readonly #truncations = new BurstReport<TruncatedDatagram>(
    truncationReportMs,
    ({ request, clientAddress, size }) =>
      this.reportError(request, clientAddress, new DatagramTruncatedError(size, this.maxPacketSize)),
    (count, { request, clientAddress, size }) =>
      this.reportError(
        request,
        clientAddress,
        new DatagramTruncatedError(size, this.maxPacketSize, count, truncationReportMs),
      ),
  );

  /**
   * For subclasses: `serverAddress` validated by the subclass, whose constructor ends with
   * {@link DatagramServer.bindAndActivate} when `options.bindAndActivate` is not `false`.
   */
  protected constructor(
    serverAddress: Address,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: DatagramServerOptions,
  ) {
    super(serverAddress, RequestHandlerClass, options);
    const defaults = new.target;
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
    const maxConcurrentRequests = options.maxConcurrentRequests ?? defaults.maxConcurrentRequests;
    this.maxConcurrentRequests =
      maxConcurrentRequests === Number.POSITIVE_INFINITY
        ? maxConcurrentRequests
        : requireInteger('maxConcurrentRequests', maxConcurrentRequests, 1);
  }

  /** Datagrams longer than `maxPacketSize`, cut to it (as `stats().truncatedDatagrams`). */
  get truncatedDatagrams(): number {
    return this.counters.truncatedDatagrams;
  }

  /**
   * Python's `bind_and_activate=True`: `serverBind()`, then `serverActivate()`, whose outcome
   * `serveForever()`, `handleRequest()` and `listening` re-raise.
   */
  protected bindAndActivate(): void {
    void this.setActivation(this.serverBind().then(() => this.serverActivate()));
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
          // What serving re-raises, whether the constructor bound or the caller did.
          void this.setActivation(rejectWith(error));
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
    return this.setActivation(Promise.resolve());
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
  ): readonly [host: string, port: number] | string | SendError;

  /** End a request. A datagram has no connection to end: by default this calls `closeRequest`. */
  shutdownRequest(request: DatagramRequest): void | Promise<void> {
    return this.closeRequest(request);
  }

  /** Release a request. Default: nothing (the socket is the server's), as Python's UDPServer. */
  closeRequest(_request: DatagramRequest): void | Promise<void> {}

  protected override get activeRequests(): number {
    return this.#runningRequests;
  }

  protected override get waitingRequests(): number {
    return this.#queue.length;
  }

  protected override requestSettings(): RequestSettings {
    return {
      handlerOptions: this.handlerOptions,
      serverAddress: this.serverAddress,
      idleTimeoutMs: undefined,
      drainTimeoutMs: this.drainTimeoutMs,
      requestKind: 'datagram',
    };
  }

  #receive(data: Buffer, clientAddress: ClientAddress): void {
    if (this.isStopping) return;
    this.counters.accepted += 1;
    this.counters.bytesIn += data.length;
    if (this.#queue.length >= this.requestQueueSize) {
      this.droppedDatagrams += 1;
      this.counters.refusedByRequestQueueSize += 1;
      this.emit('drop', { clientAddress, reason: 'requestQueueSize' });
      return;
    }
    let packet = data;
    if (data.length > this.maxPacketSize) packet = data.subarray(0, this.maxPacketSize);
    const request: DatagramRequest = [packet, this.socket];
    if (packet !== data) this.#reportTruncation({ request, clientAddress, size: data.length });
    this.#queue.push({ request, clientAddress });
    this.#changes.notify();
  }

  /**
   * Count a truncated datagram and report it to `handleError` once per burst: the first at once,
   * then, a second later and every second while more come, one report saying how many more were
   * cut (with the latest one's request and sender), as `handleAcceptError` of stream servers.
   */
  #reportTruncation(truncated: TruncatedDatagram): void {
    this.counters.truncatedDatagrams += 1;
    this.#truncations.record(truncated);
  }

  #send(data: Uint8Array | string, address: DatagramAddress): Promise<void> {
    const transport = this.#transport;
    if (transport === undefined || this.#state === 'closed') {
      return Promise.reject(new SendError('cannot send: the server is closed'));
    }
    const destination = this.resolveDestination(address);
    if (destination instanceof SendError) return Promise.reject(destination);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return transport.send(bytes, destination).then(() => {
      this.counters.bytesOut += bytes.length;
    });
  }

  /** The next datagram, once the strategy has a free slot; `undefined` when `signal` aborts. */
  protected override async nextRequest(signal: AbortSignal): Promise<QueuedDatagram | undefined> {
    while (!signal.aborted) {
      if (this.#runningRequests < this.#concurrencyLimit()) {
        const next = this.#queue.shift();
        if (next !== undefined) return next;
      }
      await this.#changes.changed(signal);
    }
    return undefined;
  }

  /** The lower of the server's `maxConcurrentRequests` and the strategy's. */
  #concurrencyLimit(): number {
    return Math.min(this.maxConcurrentRequests, this.strategy.maxConcurrentRequests);
  }

  /** Verify, then process; tracked until it settles, which it always does, never rejecting. */
  protected override dispatchRequest({ request, clientAddress }: QueuedDatagram): Promise<void> {
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
      .catch((error: unknown) => this.reportError(request, clientAddress, error))
      .finally(() => {
        this.#runningRequests -= 1;
        this.#changes.notify();
      });
  }

  #processOrRefuse(
    request: DatagramRequest,
    clientAddress: ClientAddress,
    isAccepted: boolean,
  ): Promise<void> {
    if (isAccepted) return this.processRequest(request, clientAddress);
    this.counters.refusedByVerifyRequest += 1;
    return Promise.resolve(this.shutdownRequest(request));
  }

  /** Python's `process_request_thread`: `finishRequest`, its failure reported, `shutdownRequest` always. */
  protected override serveRequestInThread(
    request: DatagramRequest,
    clientAddress: ClientAddress,
  ): Promise<void> {
    let finishing: Promise<void>;
    try {
      finishing = this.finishRequest(request, clientAddress);
    } catch (error) {
      finishing = rejectWith(error);
    }
    return finishing
      .catch((error: unknown) => this.reportError(request, clientAddress, error))
      .then(() => this.shutdownRequest(request))
      .catch((error: unknown) => this.reportError(request, clientAddress, error));
  }

  /** Drop the queued datagrams, let running requests finish until `deadline`, then close the socket. */
  protected override async stopServing(deadline: AbortSignal): Promise<void> {
    this.#state = this.#state === 'created' ? 'closed' : 'closing';
    this.#queue.length = 0;
    // On closing: report what the current burst has not yet.
    this.#truncations.flush();
    await Promise.all([this.#whenIdle(deadline), this.strategy.drain(deadline)]);
    await this.strategy.close();
    this.#state = 'closed';
    this.#transport?.close();
    this.#transport = undefined;
  }

  /** Resolves once no request runs, or when `signal` aborts. */
  async #whenIdle(signal: AbortSignal): Promise<void> {
    while (this.#runningRequests > 0 && !signal.aborted) await this.#changes.changed(signal);
  }
}

/** A datagram cut to `maxPacketSize`, as its report names it. */
interface TruncatedDatagram {
  readonly request: DatagramRequest;
  readonly clientAddress: ClientAddress;
  /** Its length before the cut. */
  readonly size: number;
}

/** How often, at most, truncated datagrams are reported during a burst. */
const truncationReportMs = 1_000;
