import { formatClientAddress, type ClientAddress, type HandlerServer } from '@socketserver/core';
import {
  BaseDatagramRequestHandler,
  BaseRequestHandler,
  DatagramRequestHandler,
  LineRequestHandler,
  StreamRequestHandler,
} from '@socketserver/handlers';

/** The recipe's first echo server: recv(8192) and send it back, until EOF. */
export class RawEchoHandler extends BaseRequestHandler {
  /** Where thread and process strategies load it from. */
  static moduleURL: string = import.meta.url;

  override async handle(): Promise<void> {
    announceConnection(this.server, this.clientAddress);
    for (;;) {
      const message = await this.request.recv(8192);
      if (message.length === 0) break;
      await this.request.send(message);
    }
  }
}

/** The recipe's StreamRequestHandler echo: every line read from rfile is written to wfile. */
export class StreamEchoHandler extends StreamRequestHandler {
  /** Where thread and process strategies load it from. */
  static moduleURL: string = import.meta.url;

  override async handle(): Promise<void> {
    announceConnection(this.server, this.clientAddress);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

/** The stream echo as a line handler: every line is its own reply, with no promise per line. */
export class LineEchoHandler extends LineRequestHandler {
  /** Where thread and process strategies load it from. */
  static moduleURL: string = import.meta.url;

  override setup(): void {
    super.setup();
    announceConnection(this.server, this.clientAddress);
  }

  override handleLine(line: Buffer): Buffer {
    return line;
  }
}

/** The raw form for datagrams: `data, socket = self.request`, and the datagram goes back as it came. */
export class RawDatagramEchoHandler extends BaseDatagramRequestHandler {
  /** Where thread and process strategies load it from. */
  static moduleURL: string = import.meta.url;

  override async handle(): Promise<void> {
    announceConnection(this.server, this.clientAddress);
    const [data, socket] = this.request;
    await socket.sendTo(data, this.clientAddress);
  }
}

/** Python's DatagramRequestHandler echo: the datagram's lines, read from rfile, written to wfile. */
export class StreamDatagramEchoHandler extends DatagramRequestHandler {
  /** Where thread and process strategies load it from. */
  static moduleURL: string = import.meta.url;

  override async handle(): Promise<void> {
    announceConnection(this.server, this.clientAddress);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

/** `Got connection from ('127.0.0.1', 46923)` (a datagram's sender too), unless the server runs with `quiet`. */
function announceConnection(server: HandlerServer, clientAddress: ClientAddress): void {
  if (server.handlerOptions['quiet'] === true) return;
  process.stdout.write(`Got connection from ${formatClientAddress(clientAddress)}\n`);
}
