import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { start, writer as nodeWriter, type REPLServer } from 'node:repl';
import { inspect, types, type InspectOptionsStylized } from 'node:util';
import { ClientError, TestClient, type ConnectOptions } from '@socketserver/client';
import { InterruptibleClient } from './interruptible-client.js';
import { PendingOperations } from './pending-operations.js';
import { renderBytes } from './render-bytes.js';

/** Options of {@link runRepl}. */
export interface ReplOptions {
  /** Host that `connect()` uses when given none, and that the REPL connects to at start. */
  host: string;
  /** Port that `connect()` uses when given none, 1-65535. */
  port: number;
  /** Connect to `host`:`port` at start and bind the connection as `s`. A failure prints one line; the REPL still starts. */
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

/** Bytes of one Buffer shown in results and `console.log`; `repr()` shows every byte. */
const maxShownBytes = 4096;
/** Lines kept in the history. */
const historySize = 1000;
/** At exit, how long open connections may flush before they are reset, in milliseconds. */
const closeGraceMs = 1000;

/**
 * The interactive client: a Node.js REPL with top-level await and `connect`, `s`, `repr`,
 * `TestClient` and `ClientError` in scope. Buffers show as Python bytes literals (`b'Hello\n'`),
 * client errors as one line. Ctrl-C cancels waiting connects and reads (or else behaves as in
 * Node's REPL); Ctrl-D or `.exit` ends it. Resolves with the exit code, 0.
 */
export async function runRepl(options: ReplOptions): Promise<number> {
  const { host, port, input = process.stdin, output = process.stdout } = options;
  const operations = new PendingOperations();
  const connections: InterruptibleClient[] = [];
  const useColors = typeof output.hasColors === 'function' && output.hasColors();
  const writer = (value: unknown): string => {
    if (isCodedError(value)) return describeCodedError(value);
    const inspectOptions = { ...nodeWriter.options, colors: useColors };
    return types.isPromise(value)
      ? withoutAsyncIds(value, () => inspect(value, inspectOptions))
      : inspect(value, inspectOptions);
  };

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

  output.write(
    `repl-client ${options.version}: a TCP client in a Node.js REPL. Type .help for what is in scope, Ctrl-D to exit.\n`,
  );
  let connectedAtStart: InterruptibleClient | undefined;
  if (options.isConnectingAtStart) {
    try {
      connectedAtStart = await connect();
      output.write(`Connected to ${connectedAtStart.peer} from ${connectedAtStart.localEndpoint}, as s.\n`);
    } catch (error) {
      if (!isCodedError(error) || error.name !== 'ClientError') throw error;
      output.write(`${describeCodedError(error)}\n`);
    }
  }
  if (connectedAtStart === undefined)
    output.write(`Connect with: const s = await connect('${host}', ${port})\n`);

  const { historyFilePath } = options;
  // A directory that cannot be made is reported by Node's own "Could not open history file".
  if (historyFilePath !== '')
    await mkdir(dirname(historyFilePath), { recursive: true, mode: 0o700 }).catch(() => {});

  const restoreBufferInspect = showBuffersAsBytesLiterals();
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
    Object.assign(context, { connect, repr, TestClient, ClientError });
    if (connectedAtStart !== undefined) context['s'] = connectedAtStart;
  };
  const exited = once(server, 'exit');
  // Right after start, before any key is read: loading the history pauses the input until it is in.
  if (historyFilePath !== '') server.setupHistory({ filePath: historyFilePath, size: historySize }, () => {});
  addToScope(server.context);
  server.on('reset', addToScope);
  cancelWaitsOnCtrlC(server, operations);
  defineCommands(server, connections, { host, port, connectTimeoutMs: options.connectTimeoutMs });

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
    restoreBufferInspect();
  }
  return 0;
}

/**
 * Ctrl-C first cancels the connects and reads that wait, which then fail with `ERR_ABORTED` and
 * leave the connection usable. With none waiting, Node's own handling runs: it interrupts the
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
  connections: readonly InterruptibleClient[],
  defaults: { host: string; port: number; connectTimeoutMs: number },
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
        '\nCtrl-C cancels a waiting connect or read, or the running command. At the prompt, Ctrl-C twice or Ctrl-D exits.\n',
      );
      server.displayPrompt();
    },
  });
  server.defineCommand('client', {
    help: 'List the connections opened in this session',
    action() {
      if (connections.length === 0) {
        output.write(`No connection yet: const s = await connect('${defaults.host}', ${defaults.port})\n`);
      }
      connections.forEach((connection, index) => output.write(`#${index + 1} ${connection.toString()}\n`));
      server.displayPrompt();
    },
  });
}

function scopeHelp({
  host,
  port,
  connectTimeoutMs,
}: {
  host: string;
  port: number;
  connectTimeoutMs: number;
}): string {
  const entries: [string, string][] = [
    [
      'connect(host, port, options)',
      `Open a connection (defaults: '${host}', ${port}): const s = await connect()`,
    ],
    ['s', 'The connection opened at start, with repl-client HOST [PORT]'],
    ['s.send(data)', 'Send a string (as UTF-8) or bytes; resolves with the byte count'],
    ['s.sendAll(data)', 'Send, resolving with nothing'],
    ['s.recv(maxBytes)', "What has arrived, 1 to maxBytes bytes; b'' once the server has closed"],
    ['s.recvExactly(n)', 'Exactly n bytes'],
    ['s.readline()', 'The next line, with its \\n'],
    ['s.recvUntilClosed()', 'Every byte until the server closes'],
    ['s.waitForClose()', 'Wait until the server closes'],
    ['s.shutdownWrite()', "Send FIN, as Python's shutdown(SHUT_WR); reading goes on"],
    ['s.close(), s.destroy()', 'Close gracefully, or at once with a reset'],
    ['repr(bytes)', "Python's repr of bytes: b'Hello\\n'"],
    ['TestClient, ClientError', 'The client classes; an error has a .code, e.g. ERR_CONNECTION_REFUSED'],
  ];
  const width = Math.max(...entries.map(([name]) => name.length)) + 2;
  const lines = entries.map(([name, text]) => `  ${name.padEnd(width)}${text}\n`).join('');
  const waits = `Reads and sends wait at most 10000 ms, connects ${connectTimeoutMs} ms; pass { timeoutMs } to change one.`;
  return `In scope (top-level await works):\n${lines}${waits}\n`;
}

/** Python's `repr` for bytes (`b'Hello\n'`, every byte); `util.inspect` for anything else. */
function repr(value: unknown): string {
  return types.isUint8Array(value) ? renderBytes(value) : inspect(value);
}

/**
 * Renders every Buffer as a Python bytes literal, in results, `console.log` and nested values,
 * until the returned function restores Node's `<Buffer 48 65 ...>`. The REPL owns its process,
 * so changing the prototype for the session is contained.
 */
function showBuffersAsBytesLiterals(): () => void {
  const prototype = Buffer.prototype as unknown as Record<symbol, unknown>;
  const previous = Object.getOwnPropertyDescriptor(prototype, inspect.custom);
  Object.defineProperty(prototype, inspect.custom, {
    configurable: true,
    writable: true,
    value(this: Buffer, _depth: number, inspectOptions: InspectOptionsStylized): string {
      return inspectOptions.stylize(renderBytes(this, { maxBytes: maxShownBytes }), 'string');
    },
  });
  return () => {
    if (previous === undefined) delete prototype[inspect.custom];
    else Object.defineProperty(prototype, inspect.custom, previous);
  };
}

/** Closes gracefully; what has not flushed within {@link closeGraceMs} is reset. */
async function closeAll(connections: readonly InterruptibleClient[]): Promise<void> {
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
 * Runs `render` with the async-id symbols that the REPL's domain tracking puts on every promise
 * hidden, so `s.close()` shows `Promise { <pending> }`, not four lines of bookkeeping. They are
 * put back before returning: `render` is synchronous, so nothing else sees them missing.
 */
function withoutAsyncIds(promise: Promise<unknown>, render: () => string): string {
  const bookkeeping = new Set(['async_id_symbol', 'trigger_async_id_symbol']);
  const hidden = Object.getOwnPropertySymbols(promise).flatMap((symbol) => {
    const descriptor = Object.getOwnPropertyDescriptor(promise, symbol);
    return bookkeeping.has(symbol.description ?? '') && descriptor?.configurable
      ? [{ symbol, descriptor }]
      : [];
  });
  for (const { symbol } of hidden) Reflect.deleteProperty(promise, symbol);
  try {
    return render();
  } finally {
    for (const { symbol, descriptor } of hidden) Reflect.defineProperty(promise, symbol, descriptor);
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
