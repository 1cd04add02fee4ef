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
      options: { host: '::1', port: 8080, isTargetGiven: true, isLineMode: true, waitMs: 0, timeoutMs: 250 },
    });
    expect(parse('example.test')).toMatchObject({
      kind: 'run',
      options: { host: 'example.test', port: 20000 },
    });
    // pnpm passes its `--` through.
    expect(parse('--', 'localhost', '1')).toMatchObject({ kind: 'run', options: { port: 1 } });
  });

  it.each([
    [['--bogus'], "unknown option '--bogus'"],
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
      'SOCKETSERVER_REPL_HISTORY',
    ]) {
      expect(help.stdout).toContain(text);
    }
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

  it('prints its version and help', async () => {
    expect(await runBin(['--version'])).toEqual({ code: 0, stdout: '0.0.0\n', stderr: '' });
    const help = await runBin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: repl-client \[options\] \[host\] \[port\]\n/);
  });
});
