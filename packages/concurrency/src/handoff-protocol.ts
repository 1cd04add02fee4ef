import type { Socket } from 'node:net';
import type { ClientAddress, HandlerLocation, RequestSettings } from '@socketserver/core';
import type { SerializedError } from './serialized-error.js';

/**
 * What the main thread tells a worker (a worker thread or a child process). Every request has an
 * id, unique in its pool, that the worker's replies carry, as cluster pairs replies by sequence
 * number. For a thread the socket travels inside the `request` message (transferred); for a child
 * process it travels beside it as the IPC handle, and `socket` is absent.
 */
export type MainToWorkerMessage =
  /** Load the handler class and get ready; answered by `ready` or `init-failed`. */
  | { readonly type: 'init'; readonly handler: HandlerLocation; readonly settings: RequestSettings }
  /** Serve this connection; answered by `accepted`, then any `error`s, then `done`. */
  | {
      readonly type: 'request';
      readonly id: number;
      readonly clientAddress: ClientAddress;
      readonly socket?: Socket;
    }
  /** Close every connection, let the handlers finish, and exit. */
  | { readonly type: 'close' };

/** What a worker tells the main thread. */
export type WorkerToMainMessage =
  /** The handler class is loaded; the worker takes requests. */
  | { readonly type: 'ready' }
  /** The handler class could not be loaded (ERR_HANDLER_LOAD_FAILED): the worker is useless. */
  | { readonly type: 'init-failed'; readonly error: SerializedError }
  /** The worker owns the socket now; the parent may close its copy (process workers). */
  | { readonly type: 'accepted'; readonly id: number }
  /** A failure of request `id`, for the server's `handleError`. */
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError }
  /** Request `id` is finished and its socket closed. */
  | { readonly type: 'done'; readonly id: number }
  /** A failure that belongs to no request (an unhandled rejection); the worker goes on. */
  | { readonly type: 'worker-error'; readonly error: SerializedError }
  /** An uncaught exception: the worker exits right after this message. */
  | { readonly type: 'fatal'; readonly error: SerializedError };
