import {
  UDPServer,
  type DatagramRequest,
  type RequestHandlerClass,
  type ServerAddress,
  type UDPServerOptions,
} from '@socketserver/core';
import type { WorkerPool } from './worker-pool.js';
import { pool, type PoolOptions } from './worker-pool-strategy.js';

/** Options of {@link WorkerPoolUDPServer}: the server's, and those of {@link pool}. */
export interface WorkerPoolUDPServerOptions extends Omit<UDPServerOptions, 'strategy'>, PoolOptions {}

/**
 * A {@link UDPServer} whose datagrams are served by a fixed pool of worker threads or processes
 * ({@link pool}), started with the server: no start-up per datagram. Each worker gets a copy of its
 * datagram, and its replies are sent through the server's socket. The handler class must say where
 * it lives (`static moduleURL`).
 */
export class WorkerPoolUDPServer extends UDPServer {
  declare readonly strategy: WorkerPool<DatagramRequest>;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: WorkerPoolUDPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, { ...options, strategy: pool(options) });
  }
}
