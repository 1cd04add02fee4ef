/**
 * Run by plain Node in a test: serves one echo with each server class, shuts down, and prints one
 * line per class. Whatever it, its threads or its children write to stderr is a failure.
 */
import { connect } from '@socketserver/client';
import { ForkingTCPServer, ThreadingTCPServer, WorkerPoolTCPServer } from '@socketserver/concurrency';

type Fixture = typeof import('./command-echo-handler.js');
const fixtureUrl = new URL('./command-echo-handler.ts', import.meta.url);
const { CommandEchoHandler } = (await import(fixtureUrl.href)) as Fixture;

const servers = [
  new ThreadingTCPServer(['127.0.0.1', 0], CommandEchoHandler),
  new ForkingTCPServer(['127.0.0.1', 0], CommandEchoHandler),
  new WorkerPoolTCPServer(['127.0.0.1', 0], CommandEchoHandler, { workers: 2 }),
  new WorkerPoolTCPServer(['127.0.0.1', 0], CommandEchoHandler, { workers: 2, kind: 'process' }),
];
for (const server of servers) {
  const serving = server.serveForever();
  const client = await connect('127.0.0.1', server.port);
  await client.sendAll('hello\n');
  const echoed = (await client.readline()).toString().trimEnd();
  await client.close();
  await server.shutdown();
  await serving;
  console.log(`${server.constructor.name} ${server.strategy.name} ${echoed} ${server.strategy.workerCount}`);
}
