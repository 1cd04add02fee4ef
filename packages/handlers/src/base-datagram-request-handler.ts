import type { ClientAddress, DatagramRequest, HandlerServer, RequestHandler } from '@socketserver/core';

/**
 * Python's BaseRequestHandler as a datagram server (UDPServer, UnixDatagramServer) builds it: one
 * handler per datagram, `request` the pair `[data, socket]` of the datagram received and the
 * server's socket to answer through. The server runs `setup()`, then `handle()`, and `finish()`
 * always, even when `handle()` throws; all three do nothing by default. An error thrown out of them
 * goes to the server's `handleError` and ends this request only.
 *
 * @example The recipe's UDP echo handler, in its raw form:
 * ```ts
 * class EchoHandler extends BaseDatagramRequestHandler {
 *   override async handle(): Promise<void> {
 *     const [data, socket] = this.request;
 *     await socket.sendTo(data, this.clientAddress);
 *   }
 * }
 * ```
 */
export class BaseDatagramRequestHandler implements RequestHandler {
  /**
   * Python's `request`, `(data, socket)`: the datagram received (at most the server's
   * `maxPacketSize` bytes) and the server's socket, whose `sendTo(data, address)` answers.
   */
  readonly request: DatagramRequest;
  /**
   * The sender's address, Python's `client_address`: where `socket.sendTo` answers. A Unix
   * datagram sender that did not bind its socket has the path `''` and cannot be answered.
   */
  readonly clientAddress: ClientAddress;
  /** The server running this handler: its `serverAddress` and `handlerOptions`. */
  readonly server: HandlerServer;

  constructor(request: DatagramRequest, clientAddress: ClientAddress, server: HandlerServer) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  /** Runs before `handle()`. Default: nothing. */
  setup(): void | Promise<void> {}

  /** Serves the request. Default: nothing. */
  handle(): void | Promise<void> {}

  /** Runs after `handle()`, even when `setup()` or `handle()` threw. Default: nothing. */
  finish(): void | Promise<void> {}
}
