/**
 * The one entry of every worker, thread or child process: it loads the handler class named by the
 * `init` message, then serves each socket handed to it with core's `serveRequestHandler`, reporting
 * failures to the main side. A handler failure ends only its connection; an unhandled rejection is
 * reported and the worker goes on. An uncaught exception thrown by code a connection's handler
 * started (a timer, a callback, anything that carries its async context) ends that connection
 * alone, reported as its error, as Go's server recovers a handler's panic for its connection. One
 * that belongs to no connection (module code, a listener the handler put on a socket's events,
 * which run in the socket's own context) is reported and ends the worker, whose state is unknown;
 * the pool replaces it, and only its connections are lost.
 *
 * For a datagram server, each `datagram` message is one request, `[data, socket]`, run with core's
 * `runRequestHandler`: `socket` is a stand-in whose `sendTo` asks the main side to send through the
 * server's own socket (`send`), and settles when the main side answers (`sent`).
 *
 * A child process ignores SIGINT (the parent coordinates shutdown, and a terminal's Ctrl-C reaches
 * the whole process group) and exits when its IPC channel closes (the parent died).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import net, { type Socket } from 'node:net';
import { isMainThread, parentPort } from 'node:worker_threads';
import {
  ServerStateError,
  SendError,
  type ClientAddress,
  type DatagramAddress,
  type DatagramRequest,
  type DatagramSocket,
  type HandlerServer,
  type ProxyProtocolError,
  type RequestHandlerClass,
} from '@socketserver/core';
import {
  clientAddressOf,
  endRequest,
  loadRequestHandler,
  runRequestHandler,
  connectionSetup,
  HandshakeGate,
  proxyTrustCheck,
  serveRequestHandler,
  type ConnectionSetup,
  type HandlerLocation,
  type RequestSettings,
} from '@socketserver/core/strategy';
import {
  fromWireBytes,
  toWireBytes,
  type MainToWorkerMessage,
  type WireBytes,
  type WorkerListenSettings,
  type WorkerToMainMessage,
} from './handoff-protocol.js';
import { inheritedListenerFd } from './worker-handle.js';
import { deserializeError, serializeError, type SerializedError } from './serialized-error.js';

/**
 * The link to the main side: a thread's parent port, or a child's IPC channel. What is sent in one
 * turn of the event loop goes at its end, in order, as one message (`batch`).
 */
interface Channel {
  send(message: WorkerToMainMessage): void;
  /** Send `message`, then end this worker with `code`. */
  exit(code: number, message?: WorkerToMainMessage): void;
}

/** What `init` brought: the handler class and what each request needs. */
interface Handler {
  /** Built with a connected socket (a stream server's) or with `[data, socket]` (a datagram server's). */
  readonly HandlerClass: RequestHandlerClass<Socket | DatagramRequest>;
  readonly settings: RequestSettings;
  readonly server: HandlerServer;
  /** What runs on a connection before its handler (PROXY header, TLS handshake): here, in the worker. */
  readonly setUp: ConnectionSetup | undefined;
  /** The PROXY trust check, run at accept by a worker that accepts; `undefined` without `proxyProtocol`. */
  readonly refuseProxy: ((peer: ClientAddress) => ProxyProtocolError | undefined) | undefined;
}

/** How bytes cross to the main side from here. */
const wireKind = isMainThread ? 'process' : 'thread';
const channel = openChannel(onMessage);
const sockets = new Map<number, Socket>();
const requests = new Set<Promise<void>>();
/** The `sendTo`s of datagram handlers waiting for the main side's `sent`, by `seq`. */
const pendingSends = new Map<number, PromiseWithResolvers<void>>();
let lastSendSeq = 0;
let handler: Handler | undefined;
let closing: Promise<void> | undefined;

/** A worker that accepts connections itself: its listening socket, caps, and waiting connections. */
interface Acceptor {
  readonly server: net.Server;
  readonly settings: WorkerListenSettings;
  /** Accepted connections waiting for a slot, oldest first (paused: nothing read). */
  readonly waiting: { readonly id: number; readonly clientAddress: ClientAddress; readonly socket: Socket }[];
  /** Connections it accepted and is serving. */
  served: number;
  /** Its connections in handshake, against its shares of the caps; `undefined` with no handshake. */
  readonly handshakes: HandshakeGate | undefined;
  /** Accepted connections in handshake (PROXY header, TLS), by id: they hold no slot yet. */
  readonly handshaking: Map<number, Socket>;
  /** The id of the last connection it accepted; its ids count down from -1, apart from the main side's. */
  lastId: number;
}
let acceptor: Acceptor | undefined;

/** The connection whose handler's code is running: what an uncaught exception there ends. */
interface ConnectionScope {
  /** Report `error` as this connection's and end the connection; false if it has ended already. */
  readonly fail: (error: unknown) => boolean;
}
const connectionScope = new AsyncLocalStorage<ConnectionScope>();

process.on('uncaughtException', (error) => {
  if (connectionScope.getStore()?.fail(error) === true) return;
  channel.exit(1, { type: 'fatal', error: serializeError(error) });
});
process.on('unhandledRejection', (reason) =>
  channel.send({ type: 'worker-error', error: serializeError(reason) }),
);

/** The id of the last request received from the main side (`pong` tells it). */
let lastRequestId = 0;

function onMessage(message: MainToWorkerMessage, handle: Socket | undefined): void {
  if (message.type === 'request') {
    lastRequestId = message.id;
    serve(message.id, message.clientAddress, message.socket ?? handle);
  } else if (message.type === 'datagram') {
    lastRequestId = message.id;
    serveDatagram(message.id, message.clientAddress, message.data);
  } else if (message.type === 'sent') onSent(message.seq, message.error);
  else if (message.type === 'ping') channel.send({ type: 'pong', lastRequestId, seq: message.seq });
  else if (message.type === 'init') void init(message.handler, message.settings, message.listen);
  else if (message.type === 'stop-accepting') stopAccepting();
  else closing ??= close();
}

async function init(
  location: HandlerLocation,
  settings: RequestSettings,
  listen: WorkerListenSettings | undefined,
): Promise<void> {
  try {
    const HandlerClass = await loadRequestHandler<Socket | DatagramRequest>(location);
    const { serverAddress, handlerOptions } = settings;
    handler = {
      HandlerClass,
      settings,
      server: { serverAddress, handlerOptions },
      setUp: connectionSetup(settings),
      refuseProxy: settings.proxyProtocol === undefined ? undefined : proxyTrustCheck(settings.proxyProtocol),
    };
    if (listen !== undefined) await startAccepting(listen);
    channel.send({ type: 'ready' });
  } catch (error) {
    channel.send({ type: 'init-failed', error: serializeError(error) });
  }
}

/**
 * Listen on a socket of this worker's own, the server's inherited (a child process) or one bound
 * to the server's address with SO_REUSEPORT (a thread), and accept from it; resolves once
 * listening.
 */
async function startAccepting(settings: WorkerListenSettings): Promise<void> {
  const { listener } = settings;
  const server = net.createServer({
    allowHalfOpen: true,
    pauseOnConnect: true,
    noDelay: listener.noDelay,
    keepAlive: listener.keepAlive,
    keepAliveInitialDelay: listener.keepAliveInitialDelay,
  });
  const listening = new Promise<void>((resolve, reject) => {
    server.once('listening', resolve).once('error', reject);
  });
  if (listener.sharing === 'inherit') server.listen({ fd: inheritedListenerFd, backlog: listener.backlog });
  else {
    const { host, port, ipv6Only } = listener;
    server.listen(new net.BoundSocket({ host, port, ipv6Only, reusePort: true }), listener.backlog);
  }
  await listening;
  // A failed accept loses one connection and never the worker (the server counts and reports
  // it); any other failure of the listening socket leaves this worker unable to accept.
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.syscall === 'accept') channel.send({ type: 'accept-failed', error: serializeError(error) });
    else channel.exit(1, { type: 'fatal', error: serializeError(error) });
  });
  server.on('connection', onConnection);
  const { maxHandshakes, maxHandshakesPerSource } = settings;
  const handshakes =
    handler?.setUp === undefined || maxHandshakes === 0
      ? undefined
      : new HandshakeGate(
          {
            maxHandshakes,
            maxHandshakesPerSource:
              maxHandshakesPerSource === 0 ? Number.POSITIVE_INFINITY : maxHandshakesPerSource,
          },
          { perSource: maxHandshakesPerSource > 0 },
        );
  acceptor = { server, settings, waiting: [], served: 0, lastId: 0, handshakes, handshaking: new Map() };
}

/** A connection this worker accepted: served at once if a slot is free, else it waits, or is dropped. */
function onConnection(socket: Socket): void {
  socket.on('error', ignoreError);
  const clientAddress = clientAddressOf(socket);
  const self = acceptor;
  if (clientAddress === undefined || self === undefined || closing !== undefined) {
    socket.destroy();
    return;
  }
  // A peer that may not send a PROXY header is refused before it takes a slot (setUp checks again).
  const refusal = handler?.refuseProxy?.(clientAddress);
  if (refusal !== undefined) {
    socket.destroy();
    channel.send({ type: 'refused', clientAddress, error: serializeError(refusal) });
    return;
  }
  const { slots, maxWaiting, maxConnections } = self.settings;
  const held = self.served + self.waiting.length + self.handshaking.size;
  const reason =
    maxConnections > 0 && held >= maxConnections
      ? 'maxConnections'
      : self.served >= slots && self.waiting.length >= maxWaiting
        ? 'requestQueueSize'
        : self.handshakes?.admit(clientAddress);
  if (reason !== undefined) {
    socket.destroy();
    channel.send({ type: 'dropped', clientAddress, reason });
    return;
  }
  const id = --self.lastId;
  const setUp = handler?.setUp;
  if (setUp !== undefined) {
    channel.send({ type: 'opened', id, clientAddress, waiting: true });
    setUpAccepted(self, setUp, id, clientAddress, socket);
    return;
  }
  const waiting = self.served >= slots;
  channel.send({ type: 'opened', id, clientAddress, waiting });
  // Nothing is read from a waiting socket, as on the main side: a client that leaves while
  // waiting is seen when its turn comes.
  if (waiting) self.waiting.push({ id, clientAddress, socket });
  else serveAccepted(self, id, clientAddress, socket);
}

/**
 * The handshake (PROXY header, TLS) of a connection this worker accepted, run at once on its event
 * loop beside the connections it serves: the connection takes a slot, or waits for one, only once
 * its handshake is over. So a peer that never finishes one holds no slot, only its place under
 * the handshake caps, until the handshake times out. A failed handshake ends the connection,
 * reported.
 */
function setUpAccepted(
  self: Acceptor,
  setUp: ConnectionSetup,
  id: number,
  peer: ClientAddress,
  socket: Socket,
): void {
  self.handshaking.set(id, socket);
  /** Out of the handshake caps; false if `stopAccepting()` has ended the connection already. */
  const endHandshake = (): boolean => {
    self.handshakes?.release(peer);
    return self.handshaking.delete(id);
  };
  setUp(socket, peer).then(
    (ready) => {
      if (!endHandshake()) {
        ready.socket.destroy();
        return;
      }
      if (self.served >= self.settings.slots) {
        self.waiting.push({ id, clientAddress: ready.clientAddress, socket: ready.socket });
        return;
      }
      channel.send({ type: 'active', id });
      serveAccepted(self, id, ready.clientAddress, ready.socket);
    },
    (error: unknown) => {
      if (!endHandshake()) return;
      channel.send({ type: 'error', id, error: serializeError(error) });
      channel.send({ type: 'done', id, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten });
    },
  );
}

/** The 'error' listener of a socket nobody reads yet: its handler's reads see the failure. */
function ignoreError(): void {}

/**
 * Serve a connection this worker accepted (its handshake, if any, over); when it ends, serve the
 * next one waiting.
 */
function serveAccepted(self: Acceptor, id: number, clientAddress: ClientAddress, socket: Socket): void {
  self.served += 1;
  serve(id, clientAddress, socket, () => {
    self.served -= 1;
    const next = self.waiting.shift();
    if (next === undefined) return;
    channel.send({ type: 'active', id: next.id });
    serveAccepted(self, next.id, next.clientAddress, next.socket);
  });
}

/**
 * Stop accepting: close the listening socket, the connections waiting for a slot, and those in
 * handshake.
 */
function stopAccepting(): void {
  const self = acceptor;
  if (self === undefined) return;
  acceptor = undefined;
  self.server.close();
  const handshaking = [...self.handshaking].map(([id, socket]) => ({ id, socket }));
  self.handshaking.clear();
  for (const { id, socket } of [...self.waiting.splice(0), ...handshaking]) {
    socket.destroy();
    channel.send({ type: 'done', id, bytesIn: 0, bytesOut: 0 });
  }
}

/**
 * Python's `process_request_thread`, on this worker's event loop. `onEnd`: for a connection this
 * worker accepted itself, its handshake already over (see `setUpAccepted`), called when it ends.
 * The main side is told of a connection it handed over: `accepted` (a child process), its
 * handshake's end (`handshake-done`), then its end (`done`).
 */
function serve(
  id: number,
  clientAddress: ClientAddress,
  socket: Socket | undefined,
  onEnd?: () => void,
): void {
  // A child process holds a duplicate of the parent's socket, which the parent closes once told.
  // A thread got the socket itself (the transfer closed the parent's): one message less.
  if (isMainThread && onEnd === undefined) channel.send({ type: 'accepted', id });
  const reportError = (error: unknown): void =>
    channel.send({ type: 'error', id, error: serializeError(error) });
  if (socket === undefined || handler === undefined || closing !== undefined) {
    reportError(new ServerStateError('the worker cannot take requests: not ready, closing, or no socket'));
    socket?.destroy();
    channel.send({ type: 'done', id, bytesIn: 0, bytesOut: 0 });
    return;
  }
  const { HandlerClass, settings, server } = handler;
  const setUp = onEnd === undefined ? handler.setUp : undefined;
  // A failure while nobody reads is seen by the handler's next read or write; unheard, it would
  // be an uncaught exception.
  socket.on('error', ignoreError);
  socket.allowHalfOpen = true;
  sockets.set(id, socket);
  let isEnded = false;
  let hasFailed = false;
  // Once an uncaught exception ended it, what the close makes its handler fail with is not news.
  const reportRequestError = (error: unknown): void => {
    if (!hasFailed) reportError(error);
  };
  const serving = (connection: Socket, client: ClientAddress): Promise<void> =>
    serveRequestHandler(
      connection,
      client,
      {
        shutdownRequest: async (request) => {
          await endRequest(request, settings.drainTimeoutMs);
          request.destroy();
        },
        reportError: (_request, _address, error) => reportRequestError(error),
      },
      settings.idleTimeoutMs,
      HandlerClass,
      server,
    );
  const scope: ConnectionScope = {
    fail: (error) => {
      if (isEnded) return false;
      reportRequestError(error);
      hasFailed = true;
      socket.destroy(); // its handler's reads and writes fail, and the request ends
      return true;
    },
  };
  // Everything the handler starts runs in this connection's scope, so that an exception nobody
  // catches there ends this connection, not the worker.
  const request = connectionScope
    .run(scope, () =>
      setUp === undefined
        ? serving(socket, clientAddress)
        : setUp(socket, clientAddress).then(
            (ready) => {
              channel.send({ type: 'handshake-done', id });
              return serving(ready.socket, ready.clientAddress);
            },
            (error: unknown) => {
              channel.send({ type: 'handshake-done', id });
              reportRequestError(error);
            },
          ),
    )
    .finally(() => {
      isEnded = true;
      sockets.delete(id);
      requests.delete(request);
      channel.send({ type: 'done', id, bytesIn: socket.bytesRead, bytesOut: socket.bytesWritten });
      onEnd?.();
    });
  requests.add(request);
}

/** Python's `process_request_thread` for one datagram: `runRequestHandler`, a failure reported, then `done`. */
function serveDatagram(id: number, clientAddress: ClientAddress, data: WireBytes): void {
  const reportError = (error: unknown): void =>
    channel.send({ type: 'error', id, error: serializeError(error) });
  if (handler === undefined || closing !== undefined) {
    reportError(new ServerStateError('the worker cannot take requests: not ready, or closing'));
    channel.send({ type: 'done', id, bytesIn: 0, bytesOut: 0 });
    return;
  }
  const socket: DatagramSocket = { sendTo: (reply, address) => sendTo(id, reply, address) };
  const request = runRequestHandler(
    handler.HandlerClass,
    [fromWireBytes(data), socket],
    clientAddress,
    handler.server,
  )
    .catch(reportError)
    .finally(() => {
      requests.delete(request);
      channel.send({ type: 'done', id, bytesIn: 0, bytesOut: 0 });
    });
  requests.add(request);
}

/** A datagram handler's `socket.sendTo`: the main side sends it through the server's socket. */
function sendTo(id: number, data: Uint8Array | string, address: DatagramAddress): Promise<void> {
  const seq = ++lastSendSeq;
  const sent = Promise.withResolvers<void>();
  pendingSends.set(seq, sent);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    channel.send({ type: 'send', id, seq, data: toWireBytes(bytes, wireKind), address });
  } catch (error) {
    // Not clonable (an address that is not plain data), or not bytes.
    pendingSends.delete(seq);
    sent.reject(new SendError(`cannot send: ${(error as Error).message}`, { cause: error }));
  }
  return sent.promise;
}

/** The main side's answer to `send` number `seq`. */
function onSent(seq: number, error: SerializedError | undefined): void {
  const sent = pendingSends.get(seq);
  if (sent === undefined) return;
  pendingSends.delete(seq);
  if (error === undefined) sent.resolve();
  else sent.reject(deserializeError(error));
}

/** Close every connection (their handlers see it and finish), wait for them, and exit. */
async function close(): Promise<void> {
  stopAccepting();
  for (const socket of sockets.values()) socket.destroy();
  await Promise.allSettled(requests);
  channel.exit(0);
}

function openChannel(listener: (message: MainToWorkerMessage, handle: Socket | undefined) => void): Channel {
  const { post, exit } = openPort(listener);
  // Messages wait, then go as one (`batch`): under load one turn of the event loop accepts and
  // ends many connections, and a message each would cost both sides far more. Most wait for the
  // end of this turn; reports of connections this worker accepted, which only feed `stats()` and
  // events, wait up to `reportDelayMs` for others.
  let pending: WorkerToMainMessage[] = [];
  let isFlushQueued = false;
  let reportTimer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    isFlushQueued = false;
    clearTimeout(reportTimer);
    reportTimer = undefined;
    const messages = pending;
    pending = [];
    if (messages.length === 1) post(messages[0] as WorkerToMainMessage);
    else if (messages.length > 1) post({ type: 'batch', messages });
  };
  return {
    send: (message) => {
      // A datagram reply's bytes are moved (a thread's ArrayBuffer), so it goes now, in order.
      if (message.type === 'send') {
        flush();
        post(message);
        return;
      }
      pending.push(message);
      if (isFlushQueued) return;
      if (!isReport(message)) {
        isFlushQueued = true;
        setImmediate(flush);
      } else reportTimer ??= setTimeout(flush, reportDelayMs);
    },
    exit: (code, message) => {
      flush();
      exit(code, message);
    },
  };
}

/** How long a report of an accepted connection may wait for others, in ms. */
const reportDelayMs = 1;

/** Whether a message only reports on a connection this worker accepted (its ids are below 0). */
function isReport(message: WorkerToMainMessage): boolean {
  return (
    message.type === 'opened' ||
    message.type === 'active' ||
    message.type === 'dropped' ||
    message.type === 'refused' ||
    (message.type === 'done' && message.id < 0)
  );
}

/** The raw link: a thread's parent port, or a child's IPC channel; every message sent at once. */
function openPort(listener: (message: MainToWorkerMessage, handle: Socket | undefined) => void): {
  post: (message: WorkerToMainMessage) => void;
  exit: (code: number, message?: WorkerToMainMessage) => void;
} {
  if (!isMainThread && parentPort !== null) {
    const port = parentPort;
    port.on('message', (message: MainToWorkerMessage) => listener(message, undefined));
    return {
      post: (message) => {
        // A datagram reply's bytes are a copy of their own: moved, not cloned again.
        if (message.type === 'send') {
          port.postMessage(message, [message.data.buffer as ArrayBuffer]);
        } else port.postMessage(message);
      },
      // Messages posted before process.exit() are delivered before the worker's 'exit' event.
      exit: (code, message) => {
        if (message !== undefined) port.postMessage(message);
        process.exit(code);
      },
    };
  }
  if (process.send === undefined) {
    throw new ServerStateError('worker-entry runs only as a worker of @socketserver/concurrency');
  }
  const send = process.send.bind(process);
  process.on('message', (message: MainToWorkerMessage, handle: unknown) =>
    listener(message, handle as Socket | undefined),
  );
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => {});
  // With a callback, a send on a closed channel fails there, not as an 'error' event.
  const ignoreSendFailure = (): void => {};
  return {
    post: (message) => {
      if (process.connected) send(message, undefined, undefined, ignoreSendFailure);
    },
    // Exit once the message, and so every message before it, is written.
    exit: (code, message) => {
      if (message === undefined || !process.connected) process.exit(code);
      else send(message, undefined, undefined, () => process.exit(code));
    },
  };
}
