import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { start, writer as nodeWriter, type REPLServer } from 'node:repl';
import { inspect, types } from 'node:util';
import {
  ClientError,
  DatagramClient,
  TestClient,
  type ConnectOptions,
  type ConnectUnixOptions,
  type DatagramAddress,
  type OpenUDPOptions,
  type OpenUnixOptions,
} from '@socketserver/client';
import type { Protocol } from './cli.js';
import { InterruptibleClient } from './interruptible-client.js';
import { InterruptibleDatagramClient } from './interruptible-datagram-client.js';
import { PendingOperations } from './pending-operations.js';
import { renderBytes } from './render-bytes.js';
import { bytesLiteralConsole, formatResult, withBytesLiterals } from './repl-writer.js';
import { sourceLiteral, udpBindingFor } from './socket-address.js';

/** Options of {@link runRepl}. */
export interface ReplOptions {
  /** Host that `connect()` uses when given none, and that the REPL connects to at start. */
  host: string;
  /** Port that `connect()` uses when given none, 1-65535. */
  port: number;
  /**
   * The server's Unix socket path, instead of `host` and `port`, and the one `connectUnix()` uses when
   * given none; a Linux abstract name starts with `'\0'`. Default (`undefined`): the server is at `host`:`port`.
   */
  unixPath?: string | undefined;
  /**
   * The server's protocol: `'tcp'`, a stream server (TCP, or Unix stream with `unixPath`), or `'udp'`, a
   * datagram server (UDP, or Unix datagram with `unixPath`). Default (`undefined`): `'tcp'`.
   */
  protocol?: Protocol | undefined;
  /**
   * At start, connect to the server and bind the connection as `s`; with protocol `'udp'`, open a
   * datagram socket as `s` and bind the server's address as `target`. A failure prints one line; the
   * REPL still starts.
   */
  isConnectingAtStart: boolean;
  /** Bound on each connect, in milliseconds, unless `connect()` is given its own `timeoutMs`. */
  connectTimeoutMs: number;
  /** History file, created with its directory when missing; `''`: no history kept. */
  historyFilePath: string;
  /** Printed in the banner. */
  version: string;
  /** The terminal's input. Default: `process.stdin`. */
  input?: NodeJS.ReadStream;
  /** The terminal's output. Default: `process.stdout`. */
  output?: NodeJS.WriteStream;
}

/** Lines kept in the history. */
const historySize = 1000;
/** At exit, how long open connections may flush before they are reset, in milliseconds. */
const closeGraceMs = 1000;

/** What the session opened: connections, and datagram sockets. */
type SessionSocket = InterruptibleClient | InterruptibleDatagramClient;

/** The server named on the command line, which the help and hints use. */
interface SessionDefaults {
  host: string;
  port: number;
  unixPath: string | undefined;
  protocol: Protocol;
  /** With protocol `'udp'` and a server given: its address, bound as `target` (even if opening `s` failed). */
  target: DatagramAddress | undefined;
  connectTimeoutMs: number;
}

/**
 * The interactive client: a Node.js REPL with top-level await and `connect`, `connectUnix`,
 * `openUDP`, `openUnixDatagram`, `s` (and `target`), `repr`, `TestClient`, `DatagramClient` and
 * `ClientError` in scope. Buffers show as Python bytes literals (`b'Hello\n'`) in results and in
 * the session's `console`, through the REPL's own writer and console: nothing of Node's is
 * patched. Client errors show as one line. Ctrl-C cancels waiting connects, reads and `recvFrom`s
 * (or else behaves as in Node's REPL); Ctrl-D or `.exit` ends it. Resolves with the exit code, 0.
 */
export async function runRepl(options: ReplOptions): Promise<number> {
  const { host, port, unixPath, input = process.stdin, output = process.stdout } = options;
  const protocol = options.protocol ?? 'tcp';
  const serverAddress: DatagramAddress = unixPath ?? [host, port];
  const target = options.isConnectingAtStart && protocol === 'udp' ? serverAddress : undefined;
  const defaults: SessionDefaults = {
    host,
    port,
    unixPath,
    protocol,
    target,
    connectTimeoutMs: options.connectTimeoutMs,
  };
  const operations = new PendingOperations();
  const connections: SessionSocket[] = [];
  const useColors = typeof output.hasColors === 'function' && output.hasColors();
  const writer = (value: unknown): string =>
    isCodedError(value)
      ? describeCodedError(value)
      : formatResult(value, { ...nodeWriter.options, colors: useColors });

  /** `connect()` in scope: the client's connect, with this session's defaults, cancelled by Ctrl-C. */
  async function connect(
    connectHost: string = host,
    connectPort: number = port,
    connectOptions: ConnectOptions = {},
  ): Promise<InterruptibleClient> {
    const connection = await InterruptibleClient.connect(connectHost, connectPort, operations, {
      timeoutMs: options.connectTimeoutMs,
      ...connectOptions,
    });
    connections.push(connection);
    return connection;
  }

  /** `connectUnix()` in scope: the client's connectUnix, to the `--unix` path by default, cancelled by Ctrl-C. */
  async function connectUnix(
    path?: string,
    connectOptions: ConnectUnixOptions = {},
  ): Promise<InterruptibleClient> {
    // Without a path or --unix, the client rejects the undefined with ERR_INVALID_ARGUMENT.
    const connection = await InterruptibleClient.connectUnix((path ?? unixPath) as string, operations, {
      timeoutMs: options.connectTimeoutMs,
      ...connectOptions,
    });
    connections.push(connection);
    return connection;
  }

  /** `openUDP()` in scope: `DatagramClient.openUDP`, its `recvFrom` cancelled by Ctrl-C. */
  async function openUDP(udpOptions?: OpenUDPOptions): Promise<InterruptibleDatagramClient> {
    const socket = await InterruptibleDatagramClient.openUDP(operations, udpOptions);
    connections.push(socket);
    return socket;
  }

  /** `openUnixDatagram()` in scope: `DatagramClient.openUnix`, its `recvFrom` cancelled by Ctrl-C. */
  async function openUnixDatagram(unixOptions?: OpenUnixOptions): Promise<InterruptibleDatagramClient> {
    const socket = await InterruptibleDatagramClient.openUnix(operations, unixOptions);
    connections.push(socket);
    return socket;
  }

  output.write(
    `repl-client ${options.version}: a TCP, UDP and Unix socket client in a Node.js REPL. Type .help for what is in scope, Ctrl-D to exit.\n`,
  );
  let openedAtStart: SessionSocket | undefined;
  if (options.isConnectingAtStart) {
    try {
      if (protocol === 'udp') {
        const socket = unixPath === undefined ? await openUDP(udpBindingFor(host)) : await openUnixDatagram();
        openedAtStart = socket;
        output.write(
          `Opened a ${socket.description}, as s; the server is target = ${sourceLiteral(serverAddress)}.\n`,
        );
        output.write(`Send and receive with: await s.sendTo('Hello\\n', target)   await s.recvFrom()\n`);
      } else {
        const connection = unixPath === undefined ? await connect() : await connectUnix(unixPath);
        openedAtStart = connection;
        const from = connection.isUnixDomain ? '' : ` from ${connection.localEndpoint}`;
        output.write(`Connected to ${connection.peer}${from}, as s.\n`);
      }
    } catch (error) {
      if (!isCodedError(error) || error.name !== 'ClientError') throw error;
      output.write(`${describeCodedError(error)}\n`);
    }
  }
  if (openedAtStart === undefined) {
    const verb = protocol === 'udp' ? 'Open one with' : 'Connect with';
    output.write(`${verb}: ${openingHint(defaults)}\n`);
  }

  const { historyFilePath } = options;
  // A directory that cannot be made is reported by Node's own "Could not open history file".
  if (historyFilePath !== '')
    await mkdir(dirname(historyFilePath), { recursive: true, mode: 0o700 }).catch(() => {});

  const server = start({
    prompt: '> ',
    input,
    output,
    useColors,
    writer,
    ignoreUndefined: true,
    breakEvalOnSigint: true,
  });
  const addToScope = (context: Record<string, unknown>): void => {
    Object.assign(context, {
      connect,
      connectUnix,
      openUDP,
      openUnixDatagram,
      repr,
      TestClient,
      DatagramClient,
      ClientError,
      console: bytesLiteralConsole(context['console'] as Console),
    });
    if (openedAtStart !== undefined) context['s'] = openedAtStart;
    if (target !== undefined) context['target'] = target;
  };
  const exited = once(server, 'exit');
  // Right after start, before any key is read: loading the history pauses the input until it is in.
  if (historyFilePath !== '') server.setupHistory({ filePath: historyFilePath, size: historySize }, () => {});
  addToScope(server.context);
  server.on('reset', addToScope);
  cancelWaitsOnCtrlC(server, operations);
  defineCommands(server, connections, defaults);

  const onUnhandledRejection = (reason: unknown): void => {
    output.write(`\nUncaught (in promise) ${writer(reason)}\n`);
    server.displayPrompt(true);
  };
  process.on('unhandledRejection', onUnhandledRejection);
  try {
    await exited;
  } finally {
    process.off('unhandledRejection', onUnhandledRejection);
    operations.cancelAll(new Error('the REPL exited'));
    await closeAll(connections.filter((connection) => !connection.isClosed));
  }
  return 0;
}

/**
 * The code that opens a socket to the server named on the command line, as the hints show it:
 * `const s = await connect('localhost', 20000)`; a datagram hint sends to `target` once it is bound.
 */
function openingHint(defaults: SessionDefaults): string {
  const { host, port, unixPath, protocol } = defaults;
  if (protocol === 'tcp') {
    return unixPath === undefined
      ? `const s = await connect('${host}', ${port})`
      : `const s = await connectUnix(${sourceLiteral(unixPath)})`;
  }
  const open =
    unixPath !== undefined
      ? 'openUnixDatagram()'
      : udpBindingFor(host).family === 6
        ? 'openUDP({ family: 6 })'
        : 'openUDP()';
  const address = defaults.target === undefined ? sourceLiteral(unixPath ?? [host, port]) : 'target';
  return `const s = await ${open}   then: await s.sendTo('Hello\\n', ${address})   await s.recvFrom()`;
}

/**
 * Ctrl-C first cancels the connects, reads and `recvFrom`s that wait, which then fail with
 * `ERR_ABORTED` and leave the socket usable. With none waiting, Node's own handling runs: it interrupts the
 * running command, or at the prompt asks for a second Ctrl-C to exit.
 */
function cancelWaitsOnCtrlC(server: REPLServer, operations: PendingOperations): void {
  const nodeListeners = server.listeners('SIGINT');
  server.removeAllListeners('SIGINT');
  server.on('SIGINT', () => {
    if (operations.cancelAll(new Error('cancelled with Ctrl-C')) > 0) return;
    for (const listener of nodeListeners) Reflect.apply(listener, server, []);
  });
}

function defineCommands(
  server: REPLServer,
  connections: readonly SessionSocket[],
  defaults: SessionDefaults,
): void {
  const output = server.output;
  server.defineCommand('help', {
    help: 'Print this help message',
    action() {
      output.write(scopeHelp(defaults));
      const names = Object.keys(server.commands).sort();
      const width = Math.max(...names.map((name) => name.length)) + 3;
      output.write('\nCommands:\n');
      for (const name of names)
        output.write(`  .${name.padEnd(width)}${server.commands[name]?.help ?? ''}\n`);
      output.write(
        '\nCtrl-C cancels a waiting connect, read or recvFrom, or the running command. At the prompt, Ctrl-C twice or Ctrl-D exits.\n',
      );
      server.displayPrompt();
    },
  });
  server.defineCommand('client', {
    help: 'List the connections and datagram sockets opened in this session',
    action() {
      if (connections.length === 0) output.write(`No connection yet: ${openingHint(defaults)}\n`);
      connections.forEach((connection, index) => output.write(`#${index + 1} ${connection.toString()}\n`));
      server.displayPrompt();
    },
  });
}

function scopeHelp({ host, port, unixPath, connectTimeoutMs }: SessionDefaults): string {
  const entries: [string, string][] = [
    [
      'connect(host, port, options)',
      `Open a connection (defaults: '${host}', ${port}): const s = await connect()`,
    ],
    [
      'connectUnix(path, options)',
      `Connect to a Unix stream socket: const s = await connectUnix(${sourceLiteral(unixPath ?? '/tmp/echo.sock')})`,
    ],
    ['openUDP(options)', 'Open a UDP socket bound to { family, host, port }: 127.0.0.1 (or ::1), port 0'],
    ['openUnixDatagram(options)', 'Open a Unix datagram socket bound to { path }: a temporary one'],
    ['s', 'Opened at start (HOST [PORT], --unix PATH); a datagram socket with --protocol udp'],
    ['target', "With --protocol udp: the server's address, for s.sendTo(data, target)"],
    ['s.send(data)', 'Send a string (as UTF-8) or bytes; resolves with the byte count'],
    ['s.sendAll(data)', 'Send, resolving with nothing'],
    ['s.recv(maxBytes)', "What has arrived, 1 to maxBytes bytes; b'' once the server has closed"],
    ['s.recvExactly(n)', 'Exactly n bytes'],
    ['s.readline()', 'The next line, with its \\n'],
    ['s.recvUntilClosed()', 'Every byte until the server closes'],
    ['s.waitForClose()', 'Wait until the server closes'],
    ['s.shutdownWrite()', "Send FIN, as Python's shutdown(SHUT_WR); reading goes on"],
    ['s.close(), s.destroy()', 'Close gracefully, or at once with a reset'],
    ['s.sendTo(data, address)', 'A datagram socket: send one datagram to [host, port], or to a socket path'],
    ['s.recvFrom()', "The next datagram and its sender: [b'Hello\\n', ['127.0.0.1', 20000]]"],
    ['repr(bytes)', "Python's repr of bytes: b'Hello\\n'"],
    ['TestClient, ClientError', 'The client classes; an error has a .code, e.g. ERR_CONNECTION_REFUSED'],
    ['DatagramClient', 'The datagram client class, whose openers openUDP and openUnixDatagram wrap'],
  ];
  const width = Math.max(...entries.map(([name]) => name.length)) + 2;
  const lines = entries.map(([name, text]) => `  ${name.padEnd(width)}${text}\n`).join('');
  const waits = `Reads and sends wait at most 10000 ms, connects ${connectTimeoutMs} ms; pass { timeoutMs } to change one.`;
  return `In scope (top-level await works):\n${lines}${waits}\n`;
}

/**
 * Python's `repr` for bytes (`b'Hello\n'`, every byte); `util.inspect` for anything else, with
 * Buffers in it shown as in results.
 */
function repr(value: unknown): string {
  return types.isUint8Array(value) ? renderBytes(value) : inspect(withBytesLiterals(value));
}

/** Closes gracefully; what has not flushed within {@link closeGraceMs} is reset. */
async function closeAll(connections: readonly SessionSocket[]): Promise<void> {
  const timer = setTimeout(() => {
    for (const connection of connections) connection.destroy();
  }, closeGraceMs);
  try {
    await Promise.all(connections.map((connection) => connection.close()));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An error with a stable code: a `ClientError` (refused, reset, timeout, aborted...) or one of
 * Node's (`ERR_SCRIPT_EXECUTION_INTERRUPTED` after Ctrl-C). Matched by code, not `instanceof`.
 */
function isCodedError(value: unknown): value is Error & { code: string } {
  // isNativeError: Node's errors may come from the REPL's own context, another realm.
  return (
    (value instanceof Error || types.isNativeError(value)) &&
    'code' in value &&
    typeof value.code === 'string'
  );
}

/** One line, no stack: `ClientError [ERR_CONNECTION_REFUSED]: Connection refused by localhost:20000`. */
function describeCodedError(error: Error & { code: string }): string {
  return `${error.name} [${error.code}]: ${error.message}`;
}
