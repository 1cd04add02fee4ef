import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { parseReplClientArguments } from './cli.js';
import { historyFilePath } from './history-file-path.js';
import { runLineMode } from './line-mode.js';
import { runRepl } from './repl.js';

/**
 * Run repl-client with these arguments; resolves with the exit code. The REPL runs when stdin is
 * a terminal, line mode with `--line` or a piped stdin; either talks to a TCP server, or with
 * `--unix` and `--protocol udp` to a Unix stream, UDP or Unix datagram one. Expected failures (a
 * bad flag, a refused connection in line mode) print one line, never a stack trace.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseReplClientArguments(argv, packageVersion());
  if (parsed.kind === 'exit') {
    process.stdout.write(parsed.stdout);
    process.stderr.write(parsed.stderr);
    return parsed.exitCode;
  }
  const { options } = parsed;
  if (options.isLineMode || !process.stdin.isTTY) {
    return runLineMode({
      host: options.host,
      port: options.port,
      unixPath: options.unixPath,
      protocol: options.protocol,
      waitMs: options.waitMs,
      timeoutMs: options.timeoutMs,
      input: process.stdin,
      output: process.stdout,
      errorOutput: process.stderr,
    });
  }
  return runRepl({
    host: options.host,
    port: options.port,
    unixPath: options.unixPath,
    protocol: options.protocol,
    isConnectingAtStart: options.isTargetGiven,
    connectTimeoutMs: options.timeoutMs,
    historyFilePath: historyFilePath(process.env, homedir()),
    version: packageVersion(),
  });
}

function packageVersion(): string {
  const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return packageJson.version;
}
