import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { resolveProxyProtocolOptions } from '@socketserver/core/strategy';

/** Every strategy name of the contract; the off-thread ones arrive with @socketserver/concurrency. */
export const strategyNames = ['serial', 'async', 'thread', 'fork', 'pool'] as const;
export type StrategyName = (typeof strategyNames)[number];

/** The echo server's settings, parsed and validated from the command line. */
export interface EchoOptions {
  host: string;
  port: number;
  /** `tcp`: stream connections; `udp`: datagrams (on a Unix path with `unix`: Unix datagrams). */
  protocol: 'tcp' | 'udp';
  /** A Unix-domain socket path (or `@name`, a Linux abstract name) instead of host and port. */
  unix: string | undefined;
  /** The Unix socket file's permission bits. */
  unixMode: number | undefined;
  /** Serve the server's metrics in Prometheus's format on 127.0.0.1 at this port (0: a free one). */
  metricsPort: number | undefined;
  /** UDP: the most bytes of a datagram the handler gets. */
  maxPacketSize: number;
  handler: 'raw' | 'stream' | 'line';
  strategy: StrategyName;
  workers: number;
  poolKind: 'thread' | 'process';
  /** Pool: requests (connections, or datagrams) each worker serves at once, on its event loop (the recipe's pool: 1). */
  requestsPerWorker: number;
  /**
   * Pool, TCP: who accepts connections, the main thread (handing each over) or each worker itself;
   * `undefined`: the pool's default (workers with `--requests-per-worker` above 1, else main).
   */
  accept: 'main' | 'workers' | undefined;
  maxConnections: number | undefined;
  /** `--idle-timeout`: close a connection silent this long, in ms; `undefined` or 0: never. */
  idleTimeoutMs: number | undefined;
  maxLineLength: number;
  /** `--drain-timeout`: how long SIGTERM lets open connections finish, in ms; 0: no wait. */
  drainTimeoutMs: number;
  /** SO_REUSEADDR when `--reuse-address` or `--no-reuse-address` was given; `undefined`: the server's default. */
  reuseAddress: boolean | undefined;
  /** SO_REUSEPORT: several servers (processes) share the port, the kernel spreading connections. */
  reusePort: boolean;
  quiet: boolean;
  /** TLS on stream connections: the files to read for it; `undefined`: plain connections. */
  tls: TLSFiles | undefined;
  /** Read a PROXY protocol header of this version from every connection; `undefined`: none. */
  proxyProtocol: 'v1' | 'v2' | 'any' | undefined;
  /** The peers that may send one (addresses and ranges); `undefined`: the server's default, loopback. */
  proxyTrust: string[] | undefined;
  /**
   * Whether a Unix peer may send a PROXY header (`--proxy-trust-unix`, `--no-proxy-trust-unix`);
   * `undefined`: the server's default (yes on a path, no on an abstract `@name`).
   */
  proxyTrustUnix: boolean | undefined;
  /** `--max-handshakes`: connections in TLS or PROXY handshake at once; `undefined`: the server's default. */
  maxHandshakes: number | undefined;
  /** `--max-handshakes-per-source`: the same from one source; `undefined`: none. */
  maxHandshakesPerSource: number | undefined;
}

/** The files of `--tls-cert`, `--tls-key` and `--tls-ca`, not read yet, and `--tls-request-cert`. */
export interface TLSFiles {
  /** The server's certificate chain, PEM. */
  cert: string;
  /** The certificate's private key, PEM. */
  key: string;
  /** Certificates client certificates must chain to, PEM; only with `requestCert`. */
  ca: string | undefined;
  /** Ask every client for a certificate and refuse one without a trusted certificate. */
  requestCert: boolean;
}

/** The outcome of parsing: settings to run with, or text to print and an exit code. */
export type ParseResult =
  { kind: 'run'; options: EchoOptions } | { kind: 'exit'; exitCode: number; stdout: string; stderr: string };

/** The longest delay a Node timer honours, 2^31 - 1 ms: the most a time flag takes. */
const maxTimerMs = 2 ** 31 - 1;

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
      new Option('--protocol <name>', 'tcp: stream connections; udp: one datagram per request')
        .choices(['tcp', 'udp'])
        .default('tcp'),
    )
    .addOption(
      new Option(
        '--unix <path>',
        'listen on a Unix-domain socket path instead of host and port (stream; datagram with --protocol udp); @name is a Linux abstract name',
      )
        .conflicts(['host', 'port'])
        .argParser(parseUnixPath),
    )
    .addOption(
      new Option('--unix-mode <mode>', "the Unix socket file's permissions, in octal (660, 0600)").argParser(
        parseMode,
      ),
    )
    .addOption(
      new Option(
        '--max-packet-size <n>',
        'udp: the most bytes of a datagram the handler gets; longer ones are cut and reported',
      )
        .default(8192)
        .argParser(integerBetween(1, 65535)),
    )
    .addOption(
      new Option(
        '--handler <kind>',
        'raw: recv(8192)/send loop; stream: line by line (for await over rfile); line: handleLine per line, no promise per line (tcp)',
      )
        .choices(['raw', 'stream', 'line'])
        .default('stream'),
    )
    .addOption(
      new Option('--strategy <name>', 'how connections are served').choices(strategyNames).default('async'),
    )
    .addOption(new Option('--workers <n>', 'pool size').default(16).argParser(integerAtLeast(1)))
    .addOption(
      new Option(
        '--requests-per-worker <n>',
        "pool: requests (connections, or datagrams) each worker serves at once on its event loop (the recipe's pool: 1)",
      )
        .default(1)
        .argParser(integerAtLeast(1)),
    )
    .addOption(
      new Option(
        '--accept <who>',
        'pool: main: the main thread accepts and hands each connection to the least busy worker; workers: each worker accepts itself (faster; tcp) (default: workers with --requests-per-worker above 1, else main)',
      ).choices(['main', 'workers']),
    )
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
      new Option(
        '--idle-timeout <ms>',
        'close a connection silent for this long; 0 turns it off (default: off)',
      ).argParser(integerBetween(0, maxTimerMs)),
    )
    .addOption(
      new Option('--max-line-length <n>', 'stream and line handlers: the longest line accepted, in bytes')
        .default(65536)
        .argParser(integerAtLeast(1)),
    )
    .addOption(
      new Option(
        '--drain-timeout <ms>',
        'on SIGTERM, how long open connections may finish; 0: close them at once, no wait',
      )
        .default(10000)
        .argParser(integerBetween(0, maxTimerMs)),
    )
    .addOption(
      new Option(
        '--reuse-address',
        `set SO_REUSEADDR (platform default: ${process.platform === 'win32' ? 'off' : 'on, always set by libuv'})`,
      ).default(process.platform !== 'win32'),
    )
    .addOption(new Option('--no-reuse-address', 'do not set SO_REUSEADDR (not possible on Linux and macOS)'))
    .addOption(
      new Option(
        '--reuse-port',
        'set SO_REUSEPORT: run several echo-server processes on one port, the kernel spreads connections (or datagrams) among them',
      ).default(false),
    )
    .addOption(
      new Option(
        '--metrics-port <n>',
        'serve metrics in Prometheus format at http://127.0.0.1:N/metrics (0 picks a free port; the address is printed)',
      ).argParser(parsePort),
    )
    .addOption(new Option('--tls-cert <file>', "TLS: the server's certificate (chain), PEM; needs --tls-key"))
    .addOption(new Option('--tls-key <file>', "TLS: the certificate's private key, PEM; needs --tls-cert"))
    .addOption(
      new Option(
        '--tls-ca <file>',
        'TLS: certificates (PEM) a client certificate must chain to; with --tls-request-cert',
      ),
    )
    .addOption(
      new Option(
        '--tls-request-cert',
        'TLS: ask every client for a certificate and refuse one without a certificate --tls-ca trusts',
      ).default(false),
    )
    .addOption(
      new Option(
        '--proxy-protocol <version>',
        "read a PROXY protocol header (HAProxy's send-proxy / send-proxy-v2) from every connection: the original client is printed and served",
      ).choices(['v1', 'v2', 'any']),
    )
    .addOption(
      new Option(
        '--proxy-trust <address>',
        'with --proxy-protocol: a proxy allowed to connect, an IP address or range (10.0.0.0/8); repeat for more (default: 127.0.0.0/8 and ::1)',
      ).argParser(collectTrustedSource),
    )
    .addOption(
      new Option(
        '--proxy-trust-unix',
        'with --proxy-protocol and --unix: let Unix peers send a PROXY header (default on a path, whose --unix-mode says who may connect)',
      ),
    )
    .addOption(
      new Option(
        '--no-proxy-trust-unix',
        'with --proxy-protocol and --unix: refuse a PROXY header from Unix peers (default on an abstract @name, which any local process may connect to)',
      ),
    )
    .addOption(
      new Option(
        '--max-handshakes <n>',
        'with TLS or --proxy-protocol: cap on connections in handshake at once; more are closed at once (default: 1024)',
      ).argParser(integerAtLeast(1)),
    )
    .addOption(
      new Option(
        '--max-handshakes-per-source <n>',
        'with TLS: the same cap for one client address (an IPv6 /64); set it below --workers for a public pool (default: none)',
      ).argParser(integerAtLeast(1)),
    )
    .addOption(new Option('--quiet', 'no per-connection lines').default(false));
  program.addHelpText(
    'after',
    '\nWith --unix, thread strategies (--strategy thread, or pool with --pool-kind thread) are not\n' +
      'available for stream connections: Node moves only TCP sockets to worker threads.\n' +
      '\nWith --tls-cert and --tls-key, every stream connection (TCP, --unix, or a socket-activated\n' +
      'one) is TLS; a client that fails the handshake is closed and reported in one line on stderr.\n' +
      '\nWith --proxy-protocol, every connection must come from a --proxy-trust address and start\n' +
      'with a PROXY header (before TLS); any other is closed and reported in one line on stderr.\n' +
      'A --unix peer may send one on a path socket (its --unix-mode says who may connect), not on an\n' +
      'abstract @name (any local process may connect): change it with --[no-]proxy-trust-unix.\n' +
      '\nA server that faces the network should set --idle-timeout (a silent peer holds a descriptor\n' +
      'and memory until then) and --max-connections (sized to the fd limit and memory; about 6 KiB\n' +
      'per idle connection), and keep --max-line-length to what its protocol needs. The defaults\n' +
      "are Python's: no idle timeout, no connection cap. With TLS, a peer that never finishes its\n" +
      'handshake holds a connection (a pool worker, a thread, a process) for 10 s: set\n' +
      '--max-handshakes-per-source below --workers, so one client cannot take the whole pool.\n',
  );

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

  const {
    idleTimeout,
    drainTimeout,
    maxConnections,
    unix,
    unixMode,
    tlsCert,
    tlsKey,
    tlsCa,
    tlsRequestCert,
    proxyProtocol,
    proxyTrust,
    proxyTrustUnix,
    ...flags
  } = program.opts<
    Omit<
      EchoOptions,
      | 'idleTimeoutMs'
      | 'drainTimeoutMs'
      | 'maxConnections'
      | 'unix'
      | 'unixMode'
      | 'tls'
      | 'proxyProtocol'
      | 'proxyTrust'
      | 'proxyTrustUnix'
    > & {
      proxyProtocol?: 'v1' | 'v2' | 'any';
      proxyTrust?: string[];
      proxyTrustUnix?: boolean;
      idleTimeout?: number;
      drainTimeout: number;
      maxConnections?: number;
      unix?: string;
      unixMode?: number;
      tlsCert?: string;
      tlsKey?: string;
      tlsCa?: string;
      tlsRequestCert: boolean;
    }
  >();
  const options: EchoOptions = {
    ...flags,
    reuseAddress: program.getOptionValueSource('reuseAddress') === 'cli' ? flags.reuseAddress : undefined,
    unix,
    unixMode,
    maxConnections,
    idleTimeoutMs: idleTimeout,
    drainTimeoutMs: drainTimeout,
    tls:
      tlsCert === undefined || tlsKey === undefined
        ? undefined
        : { cert: tlsCert, key: tlsKey, ca: tlsCa, requestCert: tlsRequestCert },
    proxyProtocol,
    proxyTrust,
    proxyTrustUnix,
  };
  const conflict = findConflict(options, program);
  if (conflict !== undefined) {
    return {
      kind: 'exit',
      exitCode: usageExitCode,
      stdout,
      stderr: `error: ${conflict}\nUsage: ${program.name()} ${program.usage()}\nRun '${program.name()} --help' for every flag.\n`,
    };
  }
  return { kind: 'run', options };
}

/** Flags that parse alone but do not go together; what to say about the first such pair. */
function findConflict(options: EchoOptions, program: Command): string | undefined {
  const given = (name: string): boolean => program.getOptionValueSource(name) === 'cli';
  const tlsConflict = findTLSConflict(options, given);
  if (tlsConflict !== undefined) return tlsConflict;
  if (options.maxHandshakes !== undefined && options.tls === undefined && options.proxyProtocol === undefined)
    return 'option --max-handshakes applies with TLS (--tls-cert) or --proxy-protocol';
  if (options.maxHandshakesPerSource !== undefined) {
    if (options.tls === undefined) return 'option --max-handshakes-per-source applies with TLS (--tls-cert)';
    if (options.proxyProtocol !== undefined)
      return 'option --max-handshakes-per-source does not apply with --proxy-protocol: every peer is a proxy';
  }
  if (options.proxyTrust !== undefined && options.proxyProtocol === undefined)
    return 'option --proxy-trust applies with --proxy-protocol';
  if (options.proxyTrustUnix !== undefined) {
    const flag = options.proxyTrustUnix ? '--proxy-trust-unix' : '--no-proxy-trust-unix';
    if (options.proxyProtocol === undefined) return `option ${flag} applies with --proxy-protocol`;
    if (options.unix === undefined) return `option ${flag} applies to a --unix socket`;
  }
  if (options.proxyProtocol !== undefined && options.protocol === 'udp')
    return 'option --proxy-protocol applies to stream connections, not to --protocol udp';
  if (given('requestsPerWorker') && options.strategy !== 'pool')
    return 'option --requests-per-worker applies to --strategy pool';
  if (given('accept') && options.strategy !== 'pool') return 'option --accept applies to --strategy pool';
  if (options.protocol === 'udp') {
    if (options.handler === 'line')
      return 'option --handler line applies to stream connections, not to --protocol udp (use stream)';
    if (given('maxConnections'))
      return 'option --max-connections applies to connections, not to --protocol udp';
    if (given('idleTimeout')) return 'option --idle-timeout applies to connections, not to --protocol udp';
  } else if (given('maxPacketSize')) {
    return 'option --max-packet-size applies to --protocol udp';
  }
  if (options.unix === undefined) {
    if (given('unixMode')) return 'option --unix-mode applies to a --unix socket';
  } else {
    const usesThreads =
      options.strategy === 'thread' || (options.strategy === 'pool' && options.poolKind === 'thread');
    if (options.protocol === 'tcp' && usesThreads) {
      return (
        `--strategy ${options.strategy}${options.strategy === 'pool' ? ' --pool-kind thread' : ''} cannot serve ` +
        '--unix stream connections: Node moves only TCP sockets to worker threads (use --strategy fork, or --pool-kind process)'
      );
    }
    if (given('reuseAddress')) return 'option --reuse-address applies to TCP ports, not to --unix';
    if (given('reusePort')) return 'option --reuse-port applies to ports, not to --unix';
    if (options.unixMode !== undefined && options.unix.startsWith('\0'))
      return 'option --unix-mode: an abstract socket (@name) has no file';
  }
  return undefined;
}

/** The TLS flags: a certificate and its key together, the client-certificate pair together, stream only. */
function findTLSConflict(options: EchoOptions, given: (name: string) => boolean): string | undefined {
  const hasCert = given('tlsCert');
  const hasKey = given('tlsKey');
  if (hasCert !== hasKey)
    return hasCert
      ? 'option --tls-cert needs --tls-key (the private key of the certificate)'
      : 'option --tls-key needs --tls-cert (the certificate of the key)';
  const hasCa = given('tlsCa');
  const requestsCert = given('tlsRequestCert');
  if (!hasCert) {
    if (hasCa) return 'option --tls-ca applies to TLS: give --tls-cert and --tls-key';
    if (requestsCert) return 'option --tls-request-cert applies to TLS: give --tls-cert and --tls-key';
    return undefined;
  }
  if (requestsCert && !hasCa)
    return 'option --tls-request-cert needs --tls-ca (the certificates a client certificate must chain to)';
  if (hasCa && !requestsCert)
    return 'option --tls-ca applies with --tls-request-cert (it is the trust for client certificates)';
  if (options.protocol === 'udp') return 'TLS applies to stream connections, not to --protocol udp';
  return undefined;
}

/** One more `--proxy-trust`: an IP address or range, checked as the server will check it. */
function collectTrustedSource(value: string, previous: string[] | undefined): string[] {
  try {
    resolveProxyProtocolOptions({ proxyProtocol: 'any', proxyTrustedSources: [value] });
  } catch {
    throw new InvalidArgumentError('expected an IP address or range, such as 10.0.0.0/8 or ::1.');
  }
  return [...(previous ?? []), value];
}

/** A Unix socket path; `@name` is the Linux abstract name `\0name`. */
function parseUnixPath(value: string): string {
  if (value === '') throw new InvalidArgumentError('expected a socket path.');
  if (value.startsWith('@')) {
    if (value.length === 1) throw new InvalidArgumentError('expected a name after @.');
    return `\0${value.slice(1)}`;
  }
  return value;
}

/** Permission bits in octal: `660`, `0660`, `0o660`. */
function parseMode(value: string): number {
  const digits = value.trim().replace(/^0o/i, '');
  if (!/^[0-7]{1,4}$/.test(digits))
    throw new InvalidArgumentError('expected octal permission bits, such as 660.');
  const mode = Number.parseInt(digits, 8);
  if (mode > 0o777) throw new InvalidArgumentError('expected permission bits 0-777.');
  return mode;
}

function integerBetween(minimum: number, maximum: number): (value: string) => number {
  return (value) => {
    const parsed = parseInteger(value);
    if (parsed === undefined || parsed < minimum || parsed > maximum)
      throw new InvalidArgumentError(`expected an integer ${minimum}-${maximum}.`);
    return parsed;
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
