/** Run by plain Node in a test: a ForkingTCPServer that prints `listening <port>` and serves until killed. */
import { ForkingTCPServer } from '@socketserver/concurrency';

type Fixture = typeof import('./command-echo-handler.js');
const fixtureUrl = new URL('./command-echo-handler.ts', import.meta.url);
const { CommandEchoHandler } = (await import(fixtureUrl.href)) as Fixture;

const server = new ForkingTCPServer(['127.0.0.1', 0], CommandEchoHandler);
const serving = server.serveForever();
console.log(`listening ${server.port}`);
await serving;
