import type { Socket } from 'node:net';
import type { ClientAddress, HandlerServer, RequestHandler } from '@socketserver/core';
import { SocketRequest } from './socket-request.js';

/**
 * Python's BaseRequestHandler: the server builds one per connection and runs `setup()`, then
 * `handle()`, and `finish()` always, even when `handle()` throws. All three do nothing by default;
 * override `handle()` at least. An error thrown out of them goes to the server's `handleError` and
 * ends this connection only.
 *
 * @example The recipe's echo handler:
 * ```ts
 * class EchoHandler extends BaseRequestHandler {
 *   override async handle(): Promise<void> {
 *     for (;;) {
 *       const message = await this.request.recv(8192);
 *       if (message.length === 0) break;
 *       await this.request.send(message);
 *     }
 *   }
 * }
 * ```
 */
export class BaseRequestHandler implements RequestHandler {
  /** The connection, Python's `request` socket: `recv`, `send`, `sendAll`. */
  readonly request: SocketRequest;
  /** The peer's address, Python's `client_address`. */
  readonly clientAddress: ClientAddress;
  /** The server running this handler: its `serverAddress` and `handlerOptions`. */
  readonly server: HandlerServer;

  constructor(request: Socket, clientAddress: ClientAddress, server: HandlerServer) {
    this.request = new SocketRequest(request);
    this.clientAddress = clientAddress;
    this.server = server;
  }

  /** Runs before `handle()`. Default: nothing. */
  setup(): void | Promise<void> {}

  /** Serves the request. Default: nothing. */
  handle(): void | Promise<void> {}

  /** Runs after `handle()`, even when `setup()` or `handle()` threw. Default: nothing. */
  finish(): void | Promise<void> {}

  /**
   * Called by the server last, after `finish()`, before it ends the connection: sends what `send` and
   * `wfile` gathered, so no reply is lost whatever `handle()` and `finish()` did.
   */
  [Symbol.dispose](): void {
    this.request.flush();
  }
}
