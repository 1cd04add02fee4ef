import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { ClientAddress } from '../support/client-address.js';
import type { HandlerServer, RequestHandler } from '../request/request-handler.js';

/** A handler built straight on the socket (core's tests can't use @socketserver/handlers). */
export class SocketHandler implements RequestHandler {
  readonly request: Socket;
  readonly clientAddress: ClientAddress;
  readonly server: HandlerServer;

  constructor(request: Socket, clientAddress: ClientAddress, server: HandlerServer) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  setup(): void | Promise<void> {}
  handle(): void | Promise<void> {}
  finish(): void | Promise<void> {}
}

/** Echoes every chunk until EOF, waiting for drain when the peer reads slowly. */
export class EchoHandler extends SocketHandler {
  override async handle(): Promise<void> {
    for await (const chunk of this.request as AsyncIterable<Buffer>) {
      if (!this.request.write(chunk)) await once(this.request, 'drain');
    }
  }
}
