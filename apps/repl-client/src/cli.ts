import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { socketPathFromArgument } from './socket-address.js';

/** The environment variable naming the history file; empty disables the history. */
export const historyEnvironmentVariable = 'SOCKETSERVER_REPL_HISTORY';

/** repl-client's settings, parsed and validated from the command line. */
export interface ReplClientOptions {
  /** Server host. Default: `'localhost'`. */
  host: string;
  /** Server port, 1-65535. Default: 20000. */
  port: number;
  /**
   * `--unix PATH`: the server's Unix socket path, instead of `host` and `port`; a Linux abstract name
   * (given as `@name`) starts with `'\0'`. Default: `undefined`, the server is at `host`:`port`.
   */
  unixPath: string | undefined;
  /** `--protocol`: `'tcp'`, a stream server (TCP, or Unix stream with `unixPath`), or `'udp'`, a datagram one (UDP, or Unix datagram). Default: `'tcp'`. */
  protocol: Protocol;
  /** Whether a host or `--unix` was given: the REPL then connects (or opens a datagram socket) at start, as `s`. */
  isTargetGiven: boolean;
  /** `--line`: send stdin line by line and print the responses, also chosen when stdin is not a terminal. */
  isLineMode: boolean;
  /** Line mode: how long to wait for responses after the input ends and after each response, in ms; 0 stops at once. Default: 1000. */
  waitMs: number;
  /** Bound on connecting, and in line mode on each send, in ms. Default: 10000. */
  timeoutMs: number;
}

/** How repl-client talks to the server: a stream (`'tcp'`) or datagrams (`'udp'`). */
export type Protocol = 'tcp' | 'udp';

/** The outcome of parsing: settings to run with, or text to print and an exit code. */
export type ParseResult =
  | { kind: 'run'; options: ReplClientOptions }
  | { kind: 'exit'; exitCode: number; stdout: string; stderr: string };

/** Exit code of a bad flag or value. */
export const usageExitCode = 2;

/** The largest delay `setTimeout` honours. */
const maxTimeoutMs = 2 ** 31 - 1;

/**
 * Parse repl-client's command line (without `node` and the script). Never throws and never
 * exits: the caller prints and exits, so tests can call it directly.
 */
export function parseReplClientArguments(argv: readonly string[], version: string): ParseResult {
  let stdout = '';
  let stderr = '';
  const program = new Command('repl-client')
    .description(
      "An interactive socket client, like the recipe's Python session: a Node.js REPL with connect(), send and " +
        'recv in scope, and sendTo and recvFrom for datagrams; or, with --line or a piped stdin, a line-by-line ' +
        'client. It speaks TCP, UDP, and Unix stream and datagram sockets.',
    )
    .argument('[host]', 'server host; given, the REPL connects at start as `s`', 'localhost')
    .argument('[port]', 'server port', parsePort, 20000)
    .version(version, '--version', 'print the version and exit')
    .helpOption('--help', 'print this help and exit')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void (stdout += text),
      writeErr: (text) => void (stderr += text),
    })
    .addOption(
      new Option(
        '--unix <path>',
        'connect to this Unix socket instead of host and port; @name: an abstract name',
      ).argParser(parseSocketPath),
    )
    .addOption(
      new Option(
        '--protocol <protocol>',
        'tcp, a stream server, or udp, a datagram server (UDP, or with --unix Unix datagram)',
      )
        .choices(['tcp', 'udp'])
        .default('tcp'),
    )
    .addOption(
      new Option('--line', 'line mode: send each stdin line, print responses as they come').default(false),
    )
    .addOption(
      new Option('--wait-ms <ms>', 'line mode: once the input ends, exit after this long without a response')
        .default(1000)
        .argParser(integerInRange(0, maxTimeoutMs)),
    )
    .addOption(
      new Option('--timeout-ms <ms>', 'bound on connecting (and on each send in line mode)')
        .default(10000)
        .argParser(integerInRange(1, maxTimeoutMs)),
    )
    .addHelpText(
      'after',
      `
In the REPL:
  const s = await connect('localhost', 20000)   await s.send('Hello\\n')   await s.recv(8192)   s.close()
  const s = await connectUnix('/tmp/echo.sock')   then the same; --unix PATH connects at start, as s
  const s = await openUDP()   await s.sendTo('Hello\\n', ['localhost', 20000])   await s.recvFrom()
  const s = await openUnixDatagram()   await s.sendTo('Hello\\n', '/tmp/echo.sock')   await s.recvFrom()
  --protocol udp HOST PORT (or --unix PATH) opens s at start: await s.sendTo('Hello\\n', target)
  .help lists what is in scope. Ctrl-C cancels a waiting connect, read or recvFrom; Ctrl-D exits.

Environment:
  ${historyEnvironmentVariable}   REPL history file (default: $XDG_STATE_HOME/socketserver/repl_history,
                              or ~/.local/state/socketserver/repl_history); empty disables it

Exit status: 0 done, 1 connection failed (refused, reset, timeout), 2 bad usage.`,
    );

  const usageError = (message: string): ParseResult => ({
    kind: 'exit',
    exitCode: usageExitCode,
    stdout,
    stderr: `${message.trimEnd()}\nUsage: ${program.name()} ${program.usage()}\nRun '${program.name()} --help' for every flag.\n`,
  });

  try {
    // `pnpm start -- --help` passes its `--` through: a leading one only separates runner and flags.
    program.parse(argv[0] === '--' ? argv.slice(1) : argv, { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return error.exitCode === 0 ? { kind: 'exit', exitCode: 0, stdout, stderr } : usageError(stderr);
  }

  const [host, port] = program.processedArgs as [string, number];
  const { unix, protocol, line, waitMs, timeoutMs } = program.opts<{
    unix: string | undefined;
    protocol: Protocol;
    line: boolean;
    waitMs: number;
    timeoutMs: number;
  }>();
  if (unix !== undefined && program.args.length > 0)
    return usageError("error: option '--unix <path>' cannot be used with the host and port arguments.");
  if (host.trim() === '')
    return usageError("error: command-argument value '' is invalid for argument 'host'.");
  return {
    kind: 'run',
    options: {
      host,
      port,
      unixPath: unix,
      protocol,
      isTargetGiven: unix !== undefined || program.args.length > 0,
      isLineMode: line,
      waitMs,
      timeoutMs,
    },
  };
}

function parsePort(value: string): number {
  const port = parseInteger(value);
  if (port === undefined || port < 1 || port > 65535)
    throw new InvalidArgumentError('expected a port, 1-65535.');
  return port;
}

function parseSocketPath(value: string): string {
  if (value === '' || value === '@') throw new InvalidArgumentError('expected a socket path, or @name.');
  return socketPathFromArgument(value);
}

function integerInRange(minimum: number, maximum: number): (value: string) => number {
  return (value) => {
    const parsed = parseInteger(value);
    if (parsed === undefined || parsed < minimum || parsed > maximum) {
      throw new InvalidArgumentError(`expected an integer from ${minimum} to ${maximum}.`);
    }
    return parsed;
  };
}

function parseInteger(value: string): number | undefined {
  if (!/^\d+$/.test(value.trim())) return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}
