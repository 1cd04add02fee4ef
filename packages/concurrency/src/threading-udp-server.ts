import {
  UDPServer,
  type DatagramRequest,
  type RequestHandlerClass,
  type ServerAddress,
  type UDPServerOptions,
} from '@socketserver/core';
import { threading, type ThreadingOptions } from './thread-per-connection.js';
import type { WorkerPool } from './worker-pool.js';

/** Options of {@link ThreadingUDPServer}: the server's, and those of {@link threading}. */
export interface ThreadingUDPServerOptions extends Omit<UDPServerOptions, 'strategy'>, ThreadingOptions {}

/**
 * Python's ThreadingUDPServer: a {@link UDPServer} that serves each datagram in a worker thread
 * ({@link threading}; an idle thread serves the next datagram). The thread gets a copy of the
 * datagram, and its replies are sent through the server's socket. The handler class must say where
 * it lives (`static moduleURL`).
 */
export class ThreadingUDPServer extends UDPServer {
  declare readonly strategy: WorkerPool<DatagramRequest>;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: ThreadingUDPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, { ...options, strategy: threading(options) });
  }
}
