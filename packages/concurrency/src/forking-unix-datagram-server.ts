import {
  UnixDatagramServer,
  type DatagramRequest,
  type RequestHandlerClass,
  type UnixDatagramServerOptions,
} from '@socketserver/core';
import { forking, type ForkingOptions } from './process-per-connection.js';
import type { WorkerPool } from './worker-pool.js';

/** Options of {@link ForkingUnixDatagramServer}: the server's, and those of {@link forking}. */
export interface ForkingUnixDatagramServerOptions
  extends Omit<UnixDatagramServerOptions, 'strategy'>, ForkingOptions {}

/**
 * Python's ForkingUnixDatagramServer: a {@link UnixDatagramServer} that serves each datagram in a
 * child process ({@link forking}). The child gets a copy of the datagram, and its replies are sent
 * through the server's socket. The handler class must say where it lives (`static moduleURL`).
 */
export class ForkingUnixDatagramServer extends UnixDatagramServer {
  declare readonly strategy: WorkerPool<DatagramRequest>;

  constructor(
    path: string,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: ForkingUnixDatagramServerOptions = {},
  ) {
    super(path, RequestHandlerClass, { ...options, strategy: forking(options) });
  }
}
