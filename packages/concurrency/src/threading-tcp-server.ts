import {
  TCPServer,
  type RequestHandlerClass,
  type ServerAddress,
  type TCPServerOptions,
} from '@socketserver/core';
import { threading, type ThreadingOptions } from './thread-per-connection.js';
import type { WorkerPool } from './worker-pool.js';

/** Options of {@link ThreadingTCPServer}: the server's, and those of {@link threading}. */
export interface ThreadingTCPServerOptions extends Omit<TCPServerOptions, 'strategy'>, ThreadingOptions {}

/**
 * Python's ThreadingTCPServer: a {@link TCPServer} that serves each connection in a thread of its
 * own ({@link threading}). The handler class must say where it lives (`static moduleURL`).
 */
export class ThreadingTCPServer extends TCPServer {
  declare readonly strategy: WorkerPool;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass,
    options: ThreadingTCPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, { ...options, strategy: threading(options) });
  }
}
