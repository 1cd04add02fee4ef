import type { Socket } from 'node:net';
import type { ClientAddress, DatagramAddress, DropReason } from '@socketserver/core';
import type { HandlerLocation, RequestSettings, SharedListener } from '@socketserver/core/strategy';
import type { SerializedError } from './serialized-error.js';

/**
 * Bytes as they cross to or from a worker, for both kinds. To a thread: a Uint8Array over an
 * ArrayBuffer of its own, which is transferred (moved, not copied again). To a child process: the
 * bytes as they are, which its IPC channel (advanced serialization, V8's structured clone) copies,
 * just the view's bytes, when it writes the message; they arrive as a Buffer if a Buffer was sent,
 * else as a Uint8Array, over the memory the channel read them into.
 */
export type WireBytes = Uint8Array;

/**
 * What the main thread tells a worker (a worker thread or a child process). Every request has an
 * id, unique in its pool, that the worker's replies carry, as cluster pairs replies by sequence
 * number. For a thread the socket travels inside the `request` message (transferred); for a child
 * process it travels beside it as the IPC handle, and `socket` is absent.
 */
export type MainToWorkerMessage =
  /**
   * Load the handler class and get ready, and with `listen`, listen and accept connections; answered
   * by `ready` (listening) or `init-failed`.
   */
  | {
      readonly type: 'init';
      readonly handler: HandlerLocation;
      readonly settings: RequestSettings;
      readonly listen?: WorkerListenSettings | undefined;
    }
  /** Stop accepting (close the listening socket), and close the connections waiting for a slot. */
  | { readonly type: 'stop-accepting' }
  /** Serve this connection; answered by `accepted`, then any `error`s, then `done`. */
  | {
      readonly type: 'request';
      readonly id: number;
      readonly clientAddress: ClientAddress;
      readonly socket?: Socket;
    }
  /**
   * Serve this datagram (a datagram server's request): the handler gets `[data, socket]`, whose
   * `socket.sendTo` asks the main side to send (`send`). Answered by any `send`s and `error`s,
   * then `done`.
   */
  | {
      readonly type: 'datagram';
      readonly id: number;
      readonly clientAddress: ClientAddress;
      readonly data: WireBytes;
    }
  /** The outcome of `send` number `seq` of request `id`: sent, or `error` (ERR_SEND_FAILED). */
  | { readonly type: 'sent'; readonly id: number; readonly seq: number; readonly error?: SerializedError }
  /** Close every connection, let the handlers finish, and exit. */
  | { readonly type: 'close' }
  /**
   * A health check: answer `pong` at once (with `seq`); a worker whose event loop is blocked
   * cannot.
   */
  | { readonly type: 'ping'; readonly seq?: number };

/** What a worker that accepts connections itself listens on, and the caps it keeps. */
export interface WorkerListenSettings {
  readonly listener: SharedListener;
  /** Connections it serves at once; more wait in it, up to `maxWaiting`. */
  readonly slots: number;
  /** Connections that may wait in it for a slot (the server's `requestQueueSize`); beyond, one is dropped. */
  readonly maxWaiting: number;
  /** Connections it holds at most, served and waiting; beyond, one is dropped (`maxConnections`). */
  readonly maxConnections: number;
  /** Its share of the server's `maxHandshakes`; `0`: none (no handshake). */
  readonly maxHandshakes: number;
  /** Its share of the server's `maxHandshakesPerSource`; `0`: none. */
  readonly maxHandshakesPerSource: number;
}

/** What a worker tells the main thread. */
export type WorkerToMainMessage =
  /** The handler class is loaded; the worker takes requests. */
  | { readonly type: 'ready' }
  /** The handler class could not be loaded (ERR_HANDLER_LOAD_FAILED): the worker is useless. */
  | { readonly type: 'init-failed'; readonly error: SerializedError }
  /**
   * A worker that accepts accepted connection `id` (a number of its own, below 0): served at once,
   * or `waiting` for a slot (then `active` follows when it is served, or `done` if it never is).
   */
  | {
      readonly type: 'opened';
      readonly id: number;
      readonly clientAddress: ClientAddress;
      readonly waiting: boolean;
    }
  /** Waiting connection `id` is being served now. */
  | { readonly type: 'active'; readonly id: number }
  /** A worker's listening socket failed to accept a connection (`accept` failed); it listens on. */
  | { readonly type: 'accept-failed'; readonly error: SerializedError }
  /** A worker that accepts closed a connection at once, unserved: a cap was reached. */
  | { readonly type: 'dropped'; readonly clientAddress: ClientAddress; readonly reason: DropReason }
  /**
   * A worker that accepts closed a connection at once, unread and unserved: its peer may not send
   * a PROXY header (ERR_PROXY_PROTOCOL, reason `'untrusted'`), for the server's `handleError`.
   */
  | { readonly type: 'refused'; readonly clientAddress: ClientAddress; readonly error: SerializedError }
  /**
   * The handshake (PROXY header, TLS) of handed-over connection `id` has ended, done or failed: it
   * no longer counts against the server's `maxHandshakes`.
   */
  | { readonly type: 'handshake-done'; readonly id: number }
  /** The worker owns the socket now; the parent may close its copy (process workers). */
  | { readonly type: 'accepted'; readonly id: number }
  /**
   * A datagram handler's `socket.sendTo(data, address)`, for request `id`: the main side sends it
   * through the server's own socket and answers `sent` with the same `seq`.
   */
  | {
      readonly type: 'send';
      readonly id: number;
      readonly seq: number;
      readonly data: WireBytes;
      readonly address: DatagramAddress;
    }
  /** A failure of request `id`, for the server's `handleError`. */
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError }
  /** Request `id` is finished (and its socket closed, for a connection). */
  | {
      readonly type: 'done';
      readonly id: number;
      /** What the connection received and sent in the worker (0 for a datagram: the server counts those). */
      readonly bytesIn: number;
      readonly bytesOut: number;
    }
  /** A failure that belongs to no request (an unhandled rejection); the worker goes on. */
  | { readonly type: 'worker-error'; readonly error: SerializedError }
  /** An uncaught exception: the worker exits right after this message. */
  | { readonly type: 'fatal'; readonly error: SerializedError }
  /** The answer to `ping`: this worker's event loop turns. */
  /**
   * The answer to `ping`: this worker's event loop turns, and `lastRequestId` is the last request
   * it received (messages arrive in order, so one sent before the ping and above it never will).
   */
  | { readonly type: 'pong'; readonly lastRequestId: number; readonly seq?: number | undefined }
  /** Messages sent in one turn of the worker's event loop, in order: one message for many. */
  | { readonly type: 'batch'; readonly messages: readonly WorkerToMainMessage[] };

/**
 * Bytes for a worker of `kind` (for a thread, a copy of their own, to transfer), or for the main
 * side from a worker.
 */
export function toWireBytes(data: Uint8Array, kind: 'thread' | 'process'): WireBytes {
  // A child's channel copies the view's bytes, and only those, as it serializes the message.
  if (kind === 'process') return data;
  // A copy of just these bytes: a view of a larger buffer would clone, or transfer, all of it.
  return new Uint8Array(data);
}

/**
 * The bytes received from the other side, as a Buffer over the same memory (no copy): a thread's
 * transferred ArrayBuffer, or what a child's IPC channel read (a chunk that other messages read
 * with them may share, kept as long as the Buffer is).
 */
export function fromWireBytes(data: WireBytes): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
