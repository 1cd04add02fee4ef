// The recipe's echo server over UDP: UDPServer gives each datagram to a DatagramRequestHandler,
// whose rfile reads the datagram's lines and whose wfile goes back in one datagram.
// Run: node examples/echo-udp.ts [port]; try it with: repl-client --protocol udp localhost 20000
import { UDPServer, formatClientAddress } from '@socketserver/core';
import { DatagramRequestHandler } from '@socketserver/handlers';

class EchoHandler extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    console.log(`Got connection from ${formatClientAddress(this.clientAddress)}`);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

const serv = new UDPServer(['', Number(process.argv[2] ?? 20000)], EchoHandler);
process.once('SIGINT', () => {
  console.log('\n\nLeaving.');
  void serv.serverClose().then(() => process.exit(1));
});
await serv.listening; // a datagram socket binds asynchronously: the port is known once bound
console.log(`Echo server running on port ${serv.port}`);
await serv.serveForever();
