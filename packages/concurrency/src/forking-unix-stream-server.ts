import { UnixStreamServer, type RequestHandlerClass, type UnixStreamServerOptions } from '@socketserver/core';
import { forking, type ForkingOptions } from './process-per-connection.js';
import type { WorkerPool } from './worker-pool.js';

/** Options of {@link ForkingUnixStreamServer}: the server's, and those of {@link forking}. */
export interface ForkingUnixStreamServerOptions
  extends Omit<UnixStreamServerOptions, 'strategy'>, ForkingOptions {}

/**
 * Python's ForkingUnixStreamServer: a {@link UnixStreamServer} that serves each connection in a
 * child process ({@link forking}), the accepted socket handed to the child. The handler class must
 * say where it lives (`static moduleURL`). There is no ThreadingUnixStreamServer: Node moves only
 * TCP sockets to worker threads.
 */
export class ForkingUnixStreamServer extends UnixStreamServer {
  declare readonly strategy: WorkerPool;

  constructor(
    path: string,
    RequestHandlerClass: RequestHandlerClass,
    options: ForkingUnixStreamServerOptions = {},
  ) {
    super(path, RequestHandlerClass, { ...options, strategy: forking(options) });
  }
}
