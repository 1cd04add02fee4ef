import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

/** Every strategy name of the contract; the off-thread ones arrive with @socketserver/concurrency. */
export const strategyNames = ['serial', 'async', 'thread', 'fork', 'pool'] as const;
export type StrategyName = (typeof strategyNames)[number];

/** The echo server's settings, parsed and validated from the command line. */
export interface EchoOptions {
  host: string;
  port: number;
  handler: 'raw' | 'stream';
  strategy: StrategyName;
  workers: number;
  poolKind: 'thread' | 'process';
  maxConnections: number | undefined;
  idleTimeoutMs: number | undefined;
  maxLineLength: number;
  drainTimeoutMs: number;
  reuseAddress: boolean;
  quiet: boolean;
}

/** The outcome of parsing: settings to run with, or text to print and an exit code. */
export type ParseResult =
  { kind: 'run'; options: EchoOptions } | { kind: 'exit'; exitCode: number; stdout: string; stderr: string };

/** Exit code of a bad flag or value: a usage error, as the contract requires. */
export const usageExitCode = 2;

/**
 * Parse the echo server's command line (without `node` and the script). Never throws and
 * never exits: the caller prints and exits, so tests can call it directly.
 */
export function parseEchoArguments(argv: readonly string[], version: string): ParseResult {
  let stdout = '';
  let stderr = '';
  const program = new Command('echo-server')
    .description("The recipe's echo server: echoes every byte it receives.")
    .version(version, '--version', 'print the version and exit')
    .helpOption('--help', 'print this help and exit')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void (stdout += text),
      writeErr: (text) => void (stderr += text),
    })
    .addOption(new Option('--host <host>', "address to listen on; '' means every interface").default(''))
    .addOption(new Option('--port <n>', 'port; 0 picks a free one').default(20000).argParser(parsePort))
    .addOption(
      new Option('--handler <kind>', 'raw: recv(8192)/send loop; stream: line by line')
        .choices(['raw', 'stream'])
        .default('stream'),
    )
    .addOption(
      new Option('--strategy <name>', 'how connections are served').choices(strategyNames).default('async'),
    )
    .addOption(new Option('--workers <n>', 'pool size').default(16).argParser(integerAtLeast(1)))
    .addOption(
      new Option('--pool-kind <kind>', "what the pool's workers are")
        .choices(['thread', 'process'])
        .default('thread'),
    )
    .addOption(
      new Option('--max-connections <n>', 'cap on connections open at once (default: none)').argParser(
        integerAtLeast(1),
      ),
    )
    .addOption(
      new Option('--idle-timeout <ms>', 'close a connection silent for this long (default: none)').argParser(
        integerAtLeast(1),
      ),
    )
    .addOption(
      new Option('--max-line-length <n>', 'stream handler: the longest line accepted, in bytes')
        .default(65536)
        .argParser(integerAtLeast(1)),
    )
    .addOption(
      new Option('--drain-timeout <ms>', 'on SIGTERM, how long open connections may finish')
        .default(10000)
        .argParser(integerAtLeast(0)),
    )
    .addOption(
      new Option(
        '--reuse-address',
        `set SO_REUSEADDR (platform default: ${process.platform === 'win32' ? 'off' : 'on, always set by libuv'})`,
      ).default(process.platform !== 'win32'),
    )
    .addOption(new Option('--no-reuse-address', 'do not set SO_REUSEADDR (not possible on Linux and macOS)'))
    .addOption(new Option('--quiet', 'no per-connection lines').default(false));

  try {
    // `pnpm start -- --help` passes its `--` through: a leading one only separates runner and flags.
    program.parse(argv[0] === '--' ? argv.slice(1) : argv, { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    const isUsageError = error.exitCode !== 0;
    return {
      kind: 'exit',
      exitCode: isUsageError ? usageExitCode : 0,
      stdout,
      stderr: isUsageError
        ? `${stderr.trimEnd()}\nUsage: ${program.name()} ${program.usage()}\nRun '${program.name()} --help' for every flag.\n`
        : stderr,
    };
  }

  const { idleTimeout, drainTimeout, maxConnections, ...flags } = program.opts<
    Omit<EchoOptions, 'idleTimeoutMs' | 'drainTimeoutMs' | 'maxConnections'> & {
      idleTimeout?: number;
      drainTimeout: number;
      maxConnections?: number;
    }
  >();
  return {
    kind: 'run',
    options: { ...flags, maxConnections, idleTimeoutMs: idleTimeout, drainTimeoutMs: drainTimeout },
  };
}

function parsePort(value: string): number {
  const port = parseInteger(value);
  if (port === undefined || port < 0 || port > 65535)
    throw new InvalidArgumentError('expected a port, 0-65535.');
  return port;
}

function integerAtLeast(minimum: number): (value: string) => number {
  return (value) => {
    const parsed = parseInteger(value);
    if (parsed === undefined || parsed < minimum)
      throw new InvalidArgumentError(`expected an integer >= ${minimum}.`);
    return parsed;
  };
}

function parseInteger(value: string): number | undefined {
  if (!/^\d+$/.test(value.trim())) return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}
