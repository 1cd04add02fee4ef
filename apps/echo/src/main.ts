import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import { getSystemErrorMessage } from 'node:util';
import {
  SocketServerError,
  TCPServer,
  UDPServer,
  UnixDatagramServer,
  UnixStreamServer,
  eventLoopStrategy,
  listenFds,
  notifySystemd,
  printable,
  serialStrategy,
  type ConcurrencyStrategy,
  type DatagramRequest,
  type InheritedSocket,
  type StreamServerOptions,
  type TLSOptions,
} from '@socketserver/core';
import { describeUnixPath } from '@socketserver/core/strategy';
import { forking, pool, threading } from '@socketserver/concurrency';
import { parseEchoArguments, usageExitCode, type EchoOptions, type TLSFiles } from './cli.js';
import { serveMetrics, type MetricsEndpoint } from './metrics.js';
import {
  LineEchoHandler,
  RawDatagramEchoHandler,
  RawEchoHandler,
  StreamDatagramEchoHandler,
  StreamEchoHandler,
} from './echo-handlers.js';

/** The server of each `--protocol` and `--unix` combination. */
type EchoServer = TCPServer | UnixStreamServer | UDPServer | UnixDatagramServer;

/** Exit codes of the contract (apps/echo/README.md, "Signals and exit codes"). */
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

  let server: EchoServer | undefined;
  let metrics: MetricsEndpoint | undefined;
  try {
    const tls = options.tls === undefined ? undefined : readTLSFiles(options.tls);
    // Started by systemd with a socket (LISTEN_FDS): serve it instead of binding.
    const [inherited] = listenFds();
    server =
      inherited === undefined
        ? createServer(options, options.unix === undefined ? await resolveHost(options.host) : '', tls)
        : createActivatedServer(options, inherited, tls);
    await server.listening;
    if (options.metricsPort !== undefined) metrics = await serveMetrics(server, options.metricsPort);
  } catch (error) {
    if (!(error instanceof SocketServerError)) throw error;
    await server?.serverClose();
    const isUsage = error.code === 'ERR_INVALID_OPTION' || error.code === 'ERR_UNSUPPORTED_OPTION';
    return fail(isUsage ? exitCodes.usage : exitCodes.cannotListen, error.message);
  }

  // Listen for signals before saying so: a client that reads the banner may signal at once.
  const exitCode = waitForSignal(server, options).finally(() => metrics?.close());
  const banner = options.strategy === 'pool' ? 'Multithreaded server' : 'Echo server';
  const where =
    typeof server.serverAddress === 'string'
      ? describeUnixPath(server.serverAddress)
      : `port ${server.serverAddress[1]}`;
  process.stdout.write(`${banner} running on ${where}\n`);
  if (metrics !== undefined) process.stdout.write(`Metrics on http://127.0.0.1:${metrics.port}/metrics\n`);
  void notify('READY=1');
  try {
    await server.serveForever();
  } catch (error) {
    // A worker that cannot start, or a listener that fails: one line, no stack trace.
    if (!(error instanceof SocketServerError)) throw error;
    await server.serverClose();
    await metrics?.close();
    return fail(exitCodes.cannotListen, error.message);
  }
  return exitCode;
}

/** SIGINT: `\n\nLeaving.`, close at once, exit 1. SIGTERM: stop accepting, drain, exit 0. */
async function waitForSignal(server: EchoServer, options: EchoOptions): Promise<number> {
  const signal = await new Promise<'SIGINT' | 'SIGTERM'>((resolve) => {
    const onSignal = (name: 'SIGINT' | 'SIGTERM'): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(name);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await notify('STOPPING=1');
  if (signal === 'SIGINT') {
    process.stdout.write('\n\nLeaving.\n');
    await server.serverClose();
    return exitCodes.sigint;
  }
  await server.shutdown({ drainTimeoutMs: options.drainTimeoutMs });
  return exitCodes.sigterm;
}

/** The recipe's echo handlers for stream connections, by `--handler`. */
const streamHandlers = { raw: RawEchoHandler, stream: StreamEchoHandler, line: LineEchoHandler } as const;

/**
 * The server the flags ask for: TCP or UDP on `[host, port]`, or with `--unix` a Unix stream or
 * datagram server; the recipe's raw or stream handler in its stream or datagram form, or the line handler.
 */
function createServer(options: EchoOptions, host: string, tls: TLSOptions | undefined): EchoServer {
  const mode = options.unixMode === undefined ? {} : { mode: options.unixMode };
  const portOptions = {
    ...(options.reuseAddress === undefined ? {} : { allowReuseAddress: options.reuseAddress }),
    allowReusePort: options.reusePort,
  };
  if (options.protocol === 'udp') {
    const Handler = options.handler === 'raw' ? RawDatagramEchoHandler : StreamDatagramEchoHandler;
    const datagramOptions = {
      ...commonOptions(options),
      strategy: createStrategy<DatagramRequest>(options),
      maxPacketSize: options.maxPacketSize,
    };
    return options.unix === undefined
      ? new UDPServer([host, options.port], Handler, { ...datagramOptions, ...portOptions })
      : new UnixDatagramServer(options.unix, Handler, { ...datagramOptions, ...mode });
  }
  const Handler = streamHandlers[options.handler];
  const streamOptions = streamServerOptions(options, tls);
  return options.unix === undefined
    ? new TCPServer([host, options.port], Handler, { ...streamOptions, ...portOptions })
    : new UnixStreamServer(options.unix, Handler, { ...streamOptions, ...mode });
}

/** What every server of the flags takes: the drain bound, and what the handlers read. */
function commonOptions(options: EchoOptions): {
  drainTimeoutMs: number;
  handlerOptions: { quiet: boolean; maxLineLength: number };
} {
  return {
    drainTimeoutMs: options.drainTimeoutMs,
    handlerOptions: { quiet: options.quiet, maxLineLength: options.maxLineLength },
  };
}

/** The options of a stream server (bound, or serving an inherited socket): limits, strategy, TLS, PROXY protocol. */
function streamServerOptions(options: EchoOptions, tls: TLSOptions | undefined): StreamServerOptions {
  return {
    ...commonOptions(options),
    strategy: createStrategy<Socket>(options),
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    ...(tls === undefined ? {} : { tls }),
    ...(options.proxyProtocol === undefined ? {} : { proxyProtocol: options.proxyProtocol }),
    ...(options.proxyTrust === undefined ? {} : { proxyTrustedSources: options.proxyTrust }),
    ...(options.proxyTrustUnix === undefined ? {} : { proxyTrustUnix: options.proxyTrustUnix }),
    ...(options.maxHandshakes === undefined ? {} : { maxHandshakes: options.maxHandshakes }),
    ...(options.maxHandshakesPerSource === undefined
      ? {}
      : { maxHandshakesPerSource: options.maxHandshakesPerSource }),
  };
}

/**
 * The server for a socket systemd passed (socket activation): a TCP or Unix stream server on it,
 * whatever `--host`, `--port` and `--unix` say. A datagram socket is not served this way.
 */
function createActivatedServer(
  options: EchoOptions,
  inherited: InheritedSocket,
  tls: TLSOptions | undefined,
): EchoServer {
  if (options.protocol === 'udp') {
    throw new SocketServerError(
      'ERR_UNSUPPORTED_OPTION',
      `socket activation: fd ${inherited.fd} (${printable(inherited.name)}) is served as a stream socket; --protocol udp cannot take it`,
    );
  }
  const Handler = streamHandlers[options.handler];
  const streamOptions = { ...streamServerOptions(options, tls), fd: inherited.fd };
  // The path names the socket in messages (Node cannot tell it; /proc can, on Linux).
  return inherited.family === 'unix'
    ? new UnixStreamServer(inherited.path ?? options.unix ?? 'inherited.sock', Handler, streamOptions)
    : new TCPServer(['', 0], Handler, streamOptions);
}

/**
 * The `tls` option of the server from the files the flags name. A file that cannot be read is a
 * bad value (ERR_INVALID_OPTION: exit 2), named with its flag; text that is not PEM, or a key that
 * is not the certificate's, the server refuses (ERR_INVALID_OPTION too).
 */
function readTLSFiles(files: TLSFiles): TLSOptions {
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      const { errno } = error as NodeJS.ErrnoException;
      const reason = errno === undefined ? (error as Error).message : getSystemErrorMessage(errno);
      throw new SocketServerError(
        'ERR_INVALID_OPTION',
        `cannot read ${flag} file ${printable(path)}: ${printable(reason)}`,
        {
          cause: error,
        },
      );
    }
  };
  const cert = read('--tls-cert', files.cert);
  const key = read('--tls-key', files.key);
  return {
    cert,
    key,
    ...(files.ca === undefined ? {} : { ca: read('--tls-ca', files.ca) }),
    requestCert: files.requestCert,
  };
}

/** sd_notify when systemd asks for it (NOTIFY_SOCKET); a failure is one line on stderr, not fatal. */
async function notify(state: string): Promise<void> {
  try {
    await notifySystemd(state);
  } catch (error) {
    process.stderr.write(`echo-server: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

/** Each strategy of the contract: the recipe's TCPServer, the event loop, and the off-thread ones. */
function createStrategy<Request>(options: EchoOptions): ConcurrencyStrategy<Request> {
  switch (options.strategy) {
    case 'serial':
      return serialStrategy<Request>();
    case 'async':
      return eventLoopStrategy<Request>();
    case 'thread':
      return threading<Request>();
    case 'fork':
      return forking<Request>();
    case 'pool':
      return pool<Request>({
        workers: options.workers,
        kind: options.poolKind,
        requestsPerWorker: options.requestsPerWorker,
        ...(options.accept === undefined ? {} : { accept: options.accept }),
      });
  }
}

/** Core binds numeric addresses only (net.BoundSocket does no DNS): resolve names here. */
async function resolveHost(host: string): Promise<string> {
  if (host === '' || host === 'localhost' || isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    throw new SocketServerError('ERR_ADDRESS_NOT_AVAILABLE', `cannot resolve host ${printable(host)}`, {
      cause: error,
    });
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
