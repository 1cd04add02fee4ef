import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  SocketServerError,
  TCPServer,
  eventLoopStrategy,
  serialStrategy,
  type ConcurrencyStrategy,
} from '@socketserver/core';
import { forking, pool, threading } from '@socketserver/concurrency';
import { parseEchoArguments, usageExitCode, type EchoOptions } from './cli.js';
import { RawEchoHandler, StreamEchoHandler } from './echo-handlers.js';

/** Exit codes of the contract (shared/echo-cli.md). */
const exitCodes = { sigint: 1, sigterm: 0, cannotListen: 1, usage: usageExitCode } as const;

/**
 * Run the echo server with these arguments until a signal ends it; resolves with the exit
 * code. Expected failures (bad flags, a port in use) print one line, never a stack trace.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseEchoArguments(argv, packageVersion());
  if (parsed.kind === 'exit') {
    process.stdout.write(parsed.stdout);
    process.stderr.write(parsed.stderr);
    return parsed.exitCode;
  }
  const { options } = parsed;
  const strategy = createStrategy(options);

  let server: TCPServer;
  try {
    const host = await resolveHost(options.host);
    server = new TCPServer(
      [host, options.port],
      options.handler === 'raw' ? RawEchoHandler : StreamEchoHandler,
      {
        strategy,
        allowReuseAddress: options.reuseAddress,
        drainTimeoutMs: options.drainTimeoutMs,
        handlerOptions: { quiet: options.quiet, maxLineLength: options.maxLineLength },
        ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
        ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
      },
    );
    await server.listening;
  } catch (error) {
    if (!(error instanceof SocketServerError)) throw error;
    const isUsage = error.code === 'ERR_INVALID_OPTION' || error.code === 'ERR_UNSUPPORTED_OPTION';
    return fail(isUsage ? exitCodes.usage : exitCodes.cannotListen, error.message);
  }

  const banner = options.strategy === 'pool' ? 'Multithreaded server' : 'Echo server';
  process.stdout.write(`${banner} running on port ${server.port}\n`);
  const exitCode = waitForSignal(server, options);
  try {
    await server.serveForever();
  } catch (error) {
    // A worker that cannot start, or a listener that fails: one line, no stack trace.
    if (!(error instanceof SocketServerError)) throw error;
    await server.serverClose();
    return fail(exitCodes.cannotListen, error.message);
  }
  return exitCode;
}

/** SIGINT: `\n\nLeaving.`, close at once, exit 1. SIGTERM: stop accepting, drain, exit 0. */
async function waitForSignal(server: TCPServer, options: EchoOptions): Promise<number> {
  const signal = await new Promise<'SIGINT' | 'SIGTERM'>((resolve) => {
    const onSignal = (name: 'SIGINT' | 'SIGTERM'): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(name);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  if (signal === 'SIGINT') {
    process.stdout.write('\n\nLeaving.\n');
    await server.serverClose();
    return exitCodes.sigint;
  }
  await server.shutdown({ drainTimeoutMs: options.drainTimeoutMs });
  return exitCodes.sigterm;
}

/** Each strategy of the contract: the recipe's TCPServer, the event loop, and the off-thread ones. */
function createStrategy(options: EchoOptions): ConcurrencyStrategy {
  switch (options.strategy) {
    case 'serial':
      return serialStrategy();
    case 'async':
      return eventLoopStrategy();
    case 'thread':
      return threading();
    case 'fork':
      return forking();
    case 'pool':
      return pool({ workers: options.workers, kind: options.poolKind });
  }
}

/** Core binds numeric addresses only (net.BoundSocket does no DNS): resolve names here. */
async function resolveHost(host: string): Promise<string> {
  if (host === '' || host === 'localhost' || isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    throw new SocketServerError('ERR_ADDRESS_NOT_AVAILABLE', `cannot resolve host ${host}`, { cause: error });
  }
}

function fail(exitCode: number, message: string): number {
  process.stderr.write(`echo-server: ${message}\n`);
  return exitCode;
}

function packageVersion(): string {
  const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return packageJson.version;
}
