import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { parseReplClientArguments, type ParseResult } from './cli.js';
import { replClientBin } from './test-support/servers.js';

function parse(...argv: string[]): ParseResult {
  return parseReplClientArguments(argv, '1.2.3');
}

/** Runs the repl-client command to its end, stdin closed. */
async function runBin(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [replClientBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => void (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => void (stderr += text));
  const [code] = (await once(child, 'close', { signal: AbortSignal.timeout(10_000) })) as [number | null];
  return { code, stdout, stderr };
}

describe('parseReplClientArguments', () => {
  it('defaults to localhost 20000, the REPL without a connection at start', () => {
    expect(parse()).toEqual({
      kind: 'run',
      options: {
        host: 'localhost',
        port: 20000,
        unixPath: undefined,
        protocol: 'tcp',
        isTargetGiven: false,
        isLineMode: false,
        waitMs: 1000,
        timeoutMs: 10000,
      },
    });
  });

  it('takes host and port, and the line-mode flags', () => {
    expect(parse('--line', '--wait-ms', '0', '--timeout-ms', '250', '::1', '8080')).toEqual({
      kind: 'run',
      options: {
        host: '::1',
        port: 8080,
        unixPath: undefined,
        protocol: 'tcp',
        isTargetGiven: true,
        isLineMode: true,
        waitMs: 0,
        timeoutMs: 250,
      },
    });
    expect(parse('example.test')).toMatchObject({
      kind: 'run',
      options: { host: 'example.test', port: 20000 },
    });
    // pnpm passes its `--` through.
    expect(parse('--', 'localhost', '1')).toMatchObject({ kind: 'run', options: { port: 1 } });
  });

  it('takes --unix PATH as the target, and @name as a Linux abstract name', () => {
    expect(parse('--unix', '/tmp/echo.sock')).toMatchObject({
      kind: 'run',
      options: { unixPath: '/tmp/echo.sock', protocol: 'tcp', isTargetGiven: true },
    });
    expect(parse('--unix', '@echo')).toMatchObject({ kind: 'run', options: { unixPath: '\0echo' } });
    expect(parse('--unix', './@echo')).toMatchObject({ kind: 'run', options: { unixPath: './@echo' } });
  });

  it('takes --protocol udp, with host and port or with --unix', () => {
    expect(parse('--protocol', 'udp')).toMatchObject({
      kind: 'run',
      options: { host: 'localhost', port: 20000, protocol: 'udp', isTargetGiven: false },
    });
    expect(parse('--protocol', 'udp', '127.0.0.1', '9999')).toMatchObject({
      kind: 'run',
      options: { host: '127.0.0.1', port: 9999, unixPath: undefined, protocol: 'udp', isTargetGiven: true },
    });
    expect(parse('--unix', '/tmp/echo.sock', '--protocol', 'udp', '--line')).toMatchObject({
      kind: 'run',
      options: { unixPath: '/tmp/echo.sock', protocol: 'udp', isTargetGiven: true, isLineMode: true },
    });
    expect(parse('--protocol', 'tcp')).toMatchObject({ kind: 'run', options: { protocol: 'tcp' } });
  });

  it.each([
    [['--bogus'], "unknown option '--bogus'"],
    [['--protocol', 'sctp'], "argument 'sctp' is invalid. Allowed choices are tcp, udp."],
    [['--protocol', 'UDP'], "argument 'UDP' is invalid. Allowed choices are tcp, udp."],
    [['--protocol'], "option '--protocol <protocol>' argument missing"],
    [['--unix', ''], "option '--unix <path>' argument '' is invalid. expected a socket path, or @name."],
    [['--unix', '@'], "option '--unix <path>' argument '@' is invalid. expected a socket path, or @name."],
    [['--unix'], "option '--unix <path>' argument missing"],
    [
      ['--unix', '/tmp/echo.sock', 'localhost'],
      "error: option '--unix <path>' cannot be used with the host and port arguments.",
    ],
    [
      ['localhost', '20000', '--unix', '/tmp/echo.sock', '--protocol', 'udp'],
      "error: option '--unix <path>' cannot be used with the host and port arguments.",
    ],
    [['localhost', '0'], 'expected a port, 1-65535'],
    [['localhost', '65536'], 'expected a port, 1-65535'],
    [['localhost', 'http'], 'expected a port, 1-65535'],
    [['localhost', '1', 'extra'], 'too many arguments'],
    [['--wait-ms', '-1'], 'expected an integer from 0 to 2147483647'],
    [['--timeout-ms', '0'], 'expected an integer from 1 to 2147483647'],
    [['--wait-ms'], 'argument missing'],
    [[''], "value '' is invalid for argument 'host'"],
  ])('refuses %j with a usage message and exit code 2', (argv, message) => {
    const result = parse(...argv);
    expect(result).toMatchObject({ kind: 'exit', exitCode: 2, stdout: '' });
    if (result.kind !== 'exit') return;
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('Usage: repl-client [options] [host] [port]\n');
  });

  it('prints --help and --version on stdout with exit code 0', () => {
    const help = parse('--help');
    expect(help).toMatchObject({ kind: 'exit', exitCode: 0, stderr: '' });
    if (help.kind !== 'exit') return;
    for (const text of [
      'Usage: repl-client [options] [host] [port]',
      '--line',
      '--wait-ms <ms>',
      '--unix <path>',
      '--protocol <protocol>',
      "const s = await connectUnix('/tmp/echo.sock')",
      "const s = await openUDP()   await s.sendTo('Hello\\n', ['localhost', 20000])   await s.recvFrom()",
      "const s = await openUnixDatagram()   await s.sendTo('Hello\\n', '/tmp/echo.sock')   await s.recvFrom()",
      "--protocol udp HOST PORT (or --unix PATH) opens s at start: await s.sendTo('Hello\\n', target)",
      'SOCKETSERVER_REPL_HISTORY',
    ]) {
      expect(help.stdout).toContain(text);
    }
    // Commander wraps the option descriptions at 80 columns.
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('(choices: "tcp", "udp", default: "tcp")');
    expect(parse('--version')).toEqual({ kind: 'exit', exitCode: 0, stdout: '1.2.3\n', stderr: '' });
  });
});

describe('the repl-client command', () => {
  it('exits 2 on a bad flag, with the usage on stderr and no stack trace', async () => {
    const { code, stdout, stderr } = await runBin(['--wait-ms', 'soon']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      "error: option '--wait-ms <ms>' argument 'soon' is invalid. expected an integer from 0 to 2147483647.\n" +
        'Usage: repl-client [options] [host] [port]\n' +
        "Run 'repl-client --help' for every flag.\n",
    );
  });

  it.each([
    [
      ['--unix', '', '--line'],
      "error: option '--unix <path>' argument '' is invalid. expected a socket path, or @name.\n",
    ],
    [
      ['--protocol', 'sctp', '--line'],
      "error: option '--protocol <protocol>' argument 'sctp' is invalid. Allowed choices are tcp, udp.\n",
    ],
    [
      ['--unix', '/tmp/echo.sock', '--line', '::1', '7'],
      "error: option '--unix <path>' cannot be used with the host and port arguments.\n",
    ],
  ])('exits 2 on %j with a one-line error, the usage, and no stack trace', async (args, error) => {
    expect(await runBin(args)).toEqual({
      code: 2,
      stdout: '',
      stderr: `${error}Usage: repl-client [options] [host] [port]\nRun 'repl-client --help' for every flag.\n`,
    });
  });

  it('prints its version and help', async () => {
    expect(await runBin(['--version'])).toEqual({ code: 0, stdout: '0.0.0\n', stderr: '' });
    const help = await runBin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: repl-client \[options\] \[host\] \[port\]\n/);
  });
});
