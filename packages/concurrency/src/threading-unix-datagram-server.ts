import {
  UnixDatagramServer,
  type DatagramRequest,
  type RequestHandlerClass,
  type UnixDatagramServerOptions,
} from '@socketserver/core';
import { threading, type ThreadingOptions } from './thread-per-connection.js';
import type { WorkerPool } from './worker-pool.js';

/** Options of {@link ThreadingUnixDatagramServer}: the server's, and those of {@link threading}. */
export interface ThreadingUnixDatagramServerOptions
  extends Omit<UnixDatagramServerOptions, 'strategy'>, ThreadingOptions {}

/**
 * Python's ThreadingUnixDatagramServer: a {@link UnixDatagramServer} that serves each datagram in a
 * worker thread ({@link threading}). The thread gets a copy of the datagram, and its replies are
 * sent through the server's socket. The handler class must say where it lives (`static moduleURL`).
 */
export class ThreadingUnixDatagramServer extends UnixDatagramServer {
  declare readonly strategy: WorkerPool<DatagramRequest>;

  constructor(
    path: string,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: ThreadingUnixDatagramServerOptions = {},
  ) {
    super(path, RequestHandlerClass, { ...options, strategy: threading(options) });
  }
}
