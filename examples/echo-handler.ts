// The recipe's StreamRequestHandler echo, in a module of its own: thread and process strategies
// load it again in each worker (by `moduleURL` and its export name), so it has no side effects.
import { formatClientAddress } from '@socketserver/core';
import { StreamRequestHandler } from '@socketserver/handlers';

export class EchoHandler extends StreamRequestHandler {
  static moduleURL = import.meta.url;

  override async handle(): Promise<void> {
    console.log(`Got connection from ${formatClientAddress(this.clientAddress)}`);
    // self.rfile is a file-like object for reading; self.wfile for writing
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}
