// The recipe's bind_and_activate=False: create the server unbound, set socket options, then
// bind (a real bind, through net.BoundSocket) and activate (listen) it yourself.
// Run: node examples/echo-socket-options.ts [port]
import { TCPServer, formatClientAddress } from '@socketserver/core';
import { StreamRequestHandler } from '@socketserver/handlers';

class EchoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    console.log(`Got connection from ${formatClientAddress(this.clientAddress)}`);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

const serv = new TCPServer(['', Number(process.argv[2] ?? 20000)], EchoHandler, { bindAndActivate: false });
// Set up various socket options
serv.setSocketOption('SO_REUSEADDR', true);
// Bind and activate
serv.serverBind();
await serv.serverActivate();
process.once('SIGINT', () => {
  console.log('\n\nLeaving.');
  void serv.serverClose().then(() => process.exit(1));
});
console.log(`Echo server running on port ${serv.port}`);
await serv.serveForever();
