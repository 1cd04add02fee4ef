import {
  TCPServer,
  type RequestHandlerClass,
  type ServerAddress,
  type TCPServerOptions,
} from '@socketserver/core';
import type { WorkerPool } from './worker-pool.js';
import { pool, type PoolOptions } from './worker-pool-strategy.js';

/** Options of {@link WorkerPoolTCPServer}: the server's, and those of {@link pool}. */
export interface WorkerPoolTCPServerOptions extends Omit<TCPServerOptions, 'strategy'>, PoolOptions {}

/**
 * The recipe's pre-allocated pool (`NWORKERS = 16`) as a server: a {@link TCPServer} whose
 * connections are served by a fixed pool of worker threads or processes ({@link pool}). The
 * handler class must say where it lives (`static moduleURL`).
 */
export class WorkerPoolTCPServer extends TCPServer {
  declare readonly strategy: WorkerPool;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass,
    options: WorkerPoolTCPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, { ...options, strategy: pool(options) });
  }
}
