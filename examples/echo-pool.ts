// The recipe's pre-allocated pool: NWORKERS threads started before the first client, each serving
// one client at a time, so at most 16 clients are served at once and the rest wait: a burst of
// connections cannot make the server explode. Run: node examples/echo-pool.ts [port]
// (`kind: 'process'` makes the workers processes instead of threads.)
import { WorkerPoolTCPServer } from '@socketserver/concurrency';
import { EchoHandler } from './echo-handler.ts';

const NWORKERS = 16;
const serv = new WorkerPoolTCPServer(['', Number(process.argv[2] ?? 20000)], EchoHandler, {
  workers: NWORKERS,
  kind: 'thread',
});
process.once('SIGINT', () => {
  console.log('\n\nLeaving.');
  void serv.serverClose().then(() => process.exit(1));
});
console.log(`Multithreaded server running on port ${serv.port}`);
await serv.serveForever();
