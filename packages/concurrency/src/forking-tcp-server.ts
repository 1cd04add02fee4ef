import {
  TCPServer,
  type RequestHandlerClass,
  type ServerAddress,
  type TCPServerOptions,
} from '@socketserver/core';
import { forking, type ForkingOptions } from './process-per-connection.js';
import type { WorkerPool } from './worker-pool.js';

/** Options of {@link ForkingTCPServer}: the server's, and those of {@link forking}. */
export interface ForkingTCPServerOptions extends Omit<TCPServerOptions, 'strategy'>, ForkingOptions {}

/**
 * Python's ForkingTCPServer: a {@link TCPServer} that serves each connection in a child process
 * ({@link forking}). The handler class must say where it lives (`static moduleURL`).
 */
export class ForkingTCPServer extends TCPServer {
  declare readonly strategy: WorkerPool;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass,
    options: ForkingTCPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, { ...options, strategy: forking(options) });
  }
}
