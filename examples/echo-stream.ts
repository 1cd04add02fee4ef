// The recipe's StreamRequestHandler echo: rfile is read line by line, each line written to
// wfile. Run: node examples/echo-stream.ts [port]
import { TCPServer, formatClientAddress } from '@socketserver/core';
import { StreamRequestHandler } from '@socketserver/handlers';

class EchoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    console.log(`Got connection from ${formatClientAddress(this.clientAddress)}`);
    // this.rfile is a line reader; this.wfile a writer that waits when the client is slow
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

const serv = new TCPServer(['', Number(process.argv[2] ?? 20000)], EchoHandler);
process.once('SIGINT', () => {
  console.log('\n\nLeaving.');
  void serv.serverClose().then(() => process.exit(1));
});
console.log(`Echo server running on port ${serv.port}`);
await serv.serveForever();
