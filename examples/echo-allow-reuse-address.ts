// The recipe's class-level default: set TCPServer.allowReuseAddress before creating the
// server, and every server made after it rebinds a recently used port.
// Run: node examples/echo-allow-reuse-address.ts [port]
import { TCPServer, formatClientAddress } from '@socketserver/core';
import { StreamRequestHandler } from '@socketserver/handlers';

class EchoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    console.log(`Got connection from ${formatClientAddress(this.clientAddress)}`);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

TCPServer.allowReuseAddress = true;
const serv = new TCPServer(['', Number(process.argv[2] ?? 20000)], EchoHandler);
process.once('SIGINT', () => {
  console.log('\n\nLeaving.');
  void serv.serverClose().then(() => process.exit(1));
});
console.log(`Echo server running on port ${serv.port}`);
await serv.serveForever();
