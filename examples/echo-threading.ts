// The recipe's ThreadingTCPServer: each client is served by a thread of its own (idle threads
// are reused, so the connection rate is not bound by thread start-up); the socket moves to the
// thread, its bytes never pass through the main thread. Run: node examples/echo-threading.ts [port]
import { ThreadingTCPServer } from '@socketserver/concurrency';
import { EchoHandler } from './echo-handler.ts';

const serv = new ThreadingTCPServer(['', Number(process.argv[2] ?? 20000)], EchoHandler);
process.once('SIGINT', () => {
  console.log('\n\nLeaving.');
  void serv.serverClose().then(() => process.exit(1));
});
console.log(`Echo server running on port ${serv.port}`);
await serv.serveForever();
