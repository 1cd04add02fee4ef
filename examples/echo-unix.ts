// The recipe's stream echo server on a Unix-domain socket: UnixStreamServer takes a path where
// TCPServer takes (host, port). A stale socket file is reused; the file is removed on close.
// Run: node examples/echo-unix.ts [path]; try it with: repl-client --unix /tmp/echo.sock
import { UnixStreamServer, eventLoopStrategy, formatClientAddress } from '@socketserver/core';
import { StreamRequestHandler } from '@socketserver/handlers';

class EchoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    console.log(`Got connection from ${formatClientAddress(this.clientAddress)}`);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

const serv = new UnixStreamServer(process.argv[2] ?? '/tmp/echo.sock', EchoHandler, {
  strategy: eventLoopStrategy(),
  mode: 0o600, // only this user may connect
});
process.once('SIGINT', () => {
  console.log('\n\nLeaving.');
  void serv.serverClose().then(() => process.exit(1));
});
console.log(`Echo server running on ${serv.serverAddress}`);
await serv.serveForever();
