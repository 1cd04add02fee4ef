import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

/** The environment variable naming the history file; empty disables the history. */
export const historyEnvironmentVariable = 'SOCKETSERVER_REPL_HISTORY';

/** repl-client's settings, parsed and validated from the command line. */
export interface ReplClientOptions {
  /** Server host. Default: `'localhost'`. */
  host: string;
  /** Server port, 1-65535. Default: 20000. */
  port: number;
  /** Whether a host was given: the REPL then connects at start and binds the connection as `s`. */
  isTargetGiven: boolean;
  /** `--line`: send stdin line by line and print the responses, also chosen when stdin is not a terminal. */
  isLineMode: boolean;
  /** Line mode: how long to wait for responses after the input ends and after each response, in ms; 0 stops at once. Default: 1000. */
  waitMs: number;
  /** Bound on connecting, and in line mode on each send, in ms. Default: 10000. */
  timeoutMs: number;
}

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
      "An interactive TCP client, like the recipe's Python session: a Node.js REPL with connect(), send and " +
        'recv in scope; or, with --line or a piped stdin, a line-by-line client.',
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
  .help lists what is in scope. Ctrl-C cancels a waiting connect or read; Ctrl-D exits.

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
  const { line, waitMs, timeoutMs } = program.opts<{ line: boolean; waitMs: number; timeoutMs: number }>();
  if (host.trim() === '')
    return usageError("error: command-argument value '' is invalid for argument 'host'.");
  return {
    kind: 'run',
    options: { host, port, isTargetGiven: program.args.length > 0, isLineMode: line, waitMs, timeoutMs },
  };
}

function parsePort(value: string): number {
  const port = parseInteger(value);
  if (port === undefined || port < 1 || port > 65535)
    throw new InvalidArgumentError('expected a port, 1-65535.');
  return port;
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
