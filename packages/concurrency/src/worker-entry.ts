/**
 * The one entry of every worker, thread or child process: it loads the handler class named by the
 * `init` message, then serves each socket handed to it with core's `serveRequestHandler`, reporting
 * failures to the main side. A handler failure ends only its connection; an unhandled rejection is
 * reported and the worker goes on; an uncaught exception is reported and ends the worker (its
 * state is unknown), which the pool then replaces.
 *
 * A child process ignores SIGINT (the parent coordinates shutdown, and a terminal's Ctrl-C reaches
 * the whole process group) and exits when its IPC channel closes (the parent died).
 */
import type { Socket } from 'node:net';
import { isMainThread, parentPort } from 'node:worker_threads';
import {
  endRequest,
  loadRequestHandler,
  serveRequestHandler,
  ServerStateError,
  type ClientAddress,
  type HandlerLocation,
  type HandlerServer,
  type RequestHandlerClass,
  type RequestSettings,
} from '@socketserver/core';
import type { MainToWorkerMessage, WorkerToMainMessage } from './handoff-protocol.js';
import { serializeError } from './serialized-error.js';

/** The link to the main side: a thread's parent port, or a child's IPC channel. */
interface Channel {
  send(message: WorkerToMainMessage): void;
  /** Send `message`, then end this worker with `code`. */
  exit(code: number, message?: WorkerToMainMessage): void;
}

/** What `init` brought: the handler class and what each request needs. */
interface Handler {
  readonly HandlerClass: RequestHandlerClass;
  readonly settings: RequestSettings;
  readonly server: HandlerServer;
}

const channel = openChannel(onMessage);
const sockets = new Map<number, Socket>();
const requests = new Set<Promise<void>>();
let handler: Handler | undefined;
let closing: Promise<void> | undefined;

process.on('uncaughtException', (error) => channel.exit(1, { type: 'fatal', error: serializeError(error) }));
process.on('unhandledRejection', (reason) =>
  channel.send({ type: 'worker-error', error: serializeError(reason) }),
);

function onMessage(message: MainToWorkerMessage, handle: Socket | undefined): void {
  if (message.type === 'init') void init(message.handler, message.settings);
  else if (message.type === 'request') serve(message.id, message.clientAddress, message.socket ?? handle);
  else closing ??= close();
}

async function init(location: HandlerLocation, settings: RequestSettings): Promise<void> {
  try {
    const HandlerClass = await loadRequestHandler(location);
    const { serverAddress, handlerOptions } = settings;
    handler = { HandlerClass, settings, server: { serverAddress, handlerOptions } };
    channel.send({ type: 'ready' });
  } catch (error) {
    channel.send({ type: 'init-failed', error: serializeError(error) });
  }
}

/** Python's `process_request_thread`, on this worker's event loop. */
function serve(id: number, clientAddress: ClientAddress, socket: Socket | undefined): void {
  // A child process holds a duplicate of the parent's socket, which the parent closes once told.
  // A thread got the socket itself (the transfer closed the parent's): one message less.
  if (isMainThread) channel.send({ type: 'accepted', id });
  const reportError = (error: unknown): void =>
    channel.send({ type: 'error', id, error: serializeError(error) });
  if (socket === undefined || handler === undefined || closing !== undefined) {
    reportError(new ServerStateError('the worker cannot take requests: not ready, closing, or no socket'));
    socket?.destroy();
    channel.send({ type: 'done', id });
    return;
  }
  const { HandlerClass, settings, server } = handler;
  // A failure while nobody reads is seen by the handler's next read or write; unheard, it would
  // be an uncaught exception.
  socket.on('error', () => {});
  socket.allowHalfOpen = true;
  sockets.set(id, socket);
  const request = serveRequestHandler(
    socket,
    clientAddress,
    {
      shutdownRequest: async (request) => {
        await endRequest(request, settings.drainTimeoutMs);
        request.destroy();
      },
      reportError: (_request, _address, error) => reportError(error),
    },
    settings.idleTimeoutMs,
    HandlerClass,
    server,
  ).finally(() => {
    sockets.delete(id);
    requests.delete(request);
    channel.send({ type: 'done', id });
  });
  requests.add(request);
}

/** Close every connection (their handlers see it and finish), wait for them, and exit. */
async function close(): Promise<void> {
  for (const socket of sockets.values()) socket.destroy();
  await Promise.allSettled(requests);
  channel.exit(0);
}

function openChannel(listener: (message: MainToWorkerMessage, handle: Socket | undefined) => void): Channel {
  if (!isMainThread && parentPort !== null) {
    const port = parentPort;
    port.on('message', (message: MainToWorkerMessage) => listener(message, undefined));
    return {
      send: (message) => port.postMessage(message),
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
    send: (message) => {
      if (process.connected) send(message, undefined, undefined, ignoreSendFailure);
    },
    // Exit once the message, and so every message before it, is written.
    exit: (code, message) => {
      if (message === undefined || !process.connected) process.exit(code);
      else send(message, undefined, undefined, () => process.exit(code));
    },
  };
}
