// The key-value server of docs/guide.md in worker threads or processes: the same KVHandler and
// KVServer, another strategy. Each worker loads kv-handler.ts again (by KVHandler.moduleURL), so each
// has a store of its own: a SET is seen only by the connections the same worker serves.
// Run: node examples/kv-workers.ts [thread|pool|process-pool|fork] [port]
import { forking, pool, threading } from '@socketserver/concurrency';
import { KVHandler } from './kv-handler.ts';
import { KVServer } from './kv-server.ts';

const strategies = {
  thread: () => threading({ maxThreads: 64 }), // a thread per connection; idle threads are reused
  pool: () => pool({ workers: 4 }), // 4 threads started with the server, one connection each
  'process-pool': () => pool({ workers: 4, kind: 'process' }), // the same, as child processes
  fork: () => forking({ maxChildren: 40 }), // a new child process per connection
};

const name = process.argv[2] ?? 'pool';
if (!Object.hasOwn(strategies, name)) {
  console.error(`usage: node examples/kv-workers.ts [${Object.keys(strategies).join('|')}] [port]`);
  process.exit(2);
}
const serv = new KVServer(['', Number(process.argv[3] ?? 20000)], KVHandler, {
  strategy: strategies[name as keyof typeof strategies](),
  idleTimeoutMs: 60_000,
  handlerOptions: { maxValueLength: 64, maxLineLength: 256 }, // copied to every worker
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void serv.shutdown({ drainTimeoutMs: 2000 }));
}
console.log(`KV server running on port ${serv.port} (${name}: one store per worker)`);
await serv.serveForever();
console.log('KV server stopped');
