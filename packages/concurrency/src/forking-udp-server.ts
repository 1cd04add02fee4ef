import {
  UDPServer,
  type DatagramRequest,
  type RequestHandlerClass,
  type ServerAddress,
  type UDPServerOptions,
} from '@socketserver/core';
import { forking, type ForkingOptions } from './process-per-connection.js';
import type { WorkerPool } from './worker-pool.js';

/** Options of {@link ForkingUDPServer}: the server's, and those of {@link forking}. */
export interface ForkingUDPServerOptions extends Omit<UDPServerOptions, 'strategy'>, ForkingOptions {}

/**
 * Python's ForkingUDPServer: a {@link UDPServer} that serves each datagram in a child process
 * ({@link forking}). The child gets a copy of the datagram, and its replies are sent through the
 * server's socket. The handler class must say where it lives (`static moduleURL`).
 */
export class ForkingUDPServer extends UDPServer {
  declare readonly strategy: WorkerPool<DatagramRequest>;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: ForkingUDPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, { ...options, strategy: forking(options) });
  }
}
