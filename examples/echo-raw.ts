// The recipe's first echo server: a BaseRequestHandler that recv()s and send()s until EOF,
// served one client at a time by TCPServer. Run: node examples/echo-raw.ts [port]
import { TCPServer, formatClientAddress } from '@socketserver/core';
import { BaseRequestHandler } from '@socketserver/handlers';

class EchoHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    console.log(`Got connection from ${formatClientAddress(this.clientAddress)}`);
    for (;;) {
      const msg = await this.request.recv(8192);
      if (msg.length === 0) break;
      await this.request.send(msg);
    }
  }
}

const serv = new TCPServer(['', Number(process.argv[2] ?? 20000)], EchoHandler);
process.once('SIGINT', () => {
  console.log('\n\nLeaving.');
  void serv.serverClose().then(() => process.exit(1));
});
console.log(`Echo server running on port ${serv.port}`);
await serv.serveForever();
