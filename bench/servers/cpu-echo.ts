// The CPU-bound echo server: @socketserver/core + CpuHashEchoHandler, on any strategy.
//   node bench/servers/cpu-echo.ts --strategy serial|async|thread|fork|pool
//        [--workers 16] [--pool-kind thread|process] [--hash-rounds 1000] [--port 0]
// Prints `Echo server running on port N`; SIGINT: `\n\nLeaving.`, exit 1. A strategy that
// @socketserver/concurrency does not provide (yet) is a usage error: one line, exit 2.
import { parseArgs } from 'node:util';
import { TCPServer, eventLoopStrategy, serialStrategy, type ConcurrencyStrategy } from '@socketserver/core';
import { CpuHashEchoHandler } from './cpu-hash-handler.ts';

/** What the bench uses of @socketserver/concurrency, loaded at run time: it may not be built yet. */
interface ConcurrencyModule {
  threading: () => ConcurrencyStrategy;
  forking: () => ConcurrencyStrategy;
  pool: (options: { workers: number; kind: 'thread' | 'process' }) => ConcurrencyStrategy;
}

function usage(message: string): never {
  process.stderr.write(`cpu-echo: ${message}\n`);
  process.exit(2);
}

function integerOption(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) usage(`--${name} must be an integer >= ${min}, not ${text}`);
  return value;
}

async function createStrategy(name: string, workers: number, poolKind: string): Promise<ConcurrencyStrategy> {
  if (name === 'serial') return serialStrategy();
  if (name === 'async') return eventLoopStrategy();
  if (name !== 'thread' && name !== 'fork' && name !== 'pool') {
    usage(`--strategy must be serial, async, thread, fork or pool, not ${name}`);
  }
  if (poolKind !== 'thread' && poolKind !== 'process') usage('--pool-kind must be thread or process');
  const specifier: string = '@socketserver/concurrency'; // a variable: compiles before the package is built
  let concurrency: Partial<ConcurrencyModule>;
  try {
    concurrency = (await import(specifier)) as Partial<ConcurrencyModule>;
  } catch (error) {
    const { code } = error as { code?: unknown };
    const reason = typeof code === 'string' ? code : String(error);
    usage(`--strategy ${name} is not available: @socketserver/concurrency did not load (${reason})`);
  }
  const { threading, forking, pool } = concurrency;
  const strategy =
    name === 'thread' ? threading?.() : name === 'fork' ? forking?.() : pool?.({ workers, kind: poolKind });
  return strategy ?? usage(`--strategy ${name} is not available: @socketserver/concurrency lacks it`);
}

const { values } = parseArgs({
  options: {
    strategy: { type: 'string', default: 'async' },
    workers: { type: 'string', default: '16' },
    'pool-kind': { type: 'string', default: 'thread' },
    'hash-rounds': { type: 'string', default: String(CpuHashEchoHandler.hashRounds) },
    port: { type: 'string', default: '0' },
  },
});
const workers = integerOption('workers', values.workers, 1);
const strategy = await createStrategy(values.strategy, workers, values['pool-kind']);
const server = new TCPServer(['', integerOption('port', values.port, 0)], CpuHashEchoHandler, {
  strategy,
  handlerOptions: { hashRounds: integerOption('hash-rounds', values['hash-rounds'], 0) },
});
await server.listening;
console.log(`Echo server running on port ${server.port}`);
process.once('SIGINT', () => {
  process.stdout.write('\n\nLeaving.\n');
  process.exitCode = 1;
  void server.serverClose();
});
await server.serveForever();
process.exit();
