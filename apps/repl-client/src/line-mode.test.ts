import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  closedPort,
  replClientBin,
  startEchoServer,
  startRawServer,
  startUDPServer,
  startUnixDatagramServer,
  startUnixStreamEchoServer,
  temporaryDirectory,
  type EchoServer,
} from './test-support/servers.js';

let echoServer: EchoServer;

beforeAll(async () => {
  echoServer = await startEchoServer();
});

afterAll(async () => {
  await echoServer[Symbol.asyncDispose]();
});

/** repl-client with its stdin, stdout and stderr on pipes; killed when the test ends. */
class PipedClient {
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [replClientBin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8').on('data', (text: string) => void (this.stdout += text));
    this.child.stderr.setEncoding('utf8').on('data', (text: string) => void (this.stderr += text));
    this.child.stdin.on('error', () => {}); // The client may exit before reading all of its input.
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code: number | null) => resolve(code));
    });
    onTestFinished(async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
      await this.exited.catch(() => undefined);
    });
  }

  /** Waits (bounded) until stdout holds `expected`. */
  async waitForStdout(expected: string): Promise<void> {
    const signal = AbortSignal.timeout(5000);
    while (!this.stdout.includes(expected)) {
      await once(this.child.stdout, 'data', { signal });
    }
  }

  /** Waits (bounded) for the exit code. */
  async exitCode(): Promise<number | null> {
    const timeout = AbortSignal.timeout(10_000);
    return Promise.race([
      this.exited,
      once(timeout, 'abort').then(() => {
        throw new Error(`repl-client did not exit; stdout: ${this.stdout}, stderr: ${this.stderr}`);
      }),
    ]);
  }
}

describe('repl-client, line mode', () => {
  it('sends piped lines to the echo server and prints the responses, then exits 0', async () => {
    // No --line: a piped stdin chooses line mode. The last line has no \n: it gets one.
    const client = new PipedClient(['--wait-ms', '200', 'localhost', String(echoServer.port)]);
    client.child.stdin.end('Hello\nsocketserver');
    expect(await client.exitCode()).toBe(0);
    expect(client.stdout).toBe('Hello\nsocketserver\n');
    expect(client.stderr).toBe('');
  });

  it('prints each response as it comes, while the input is still open', async () => {
    const client = new PipedClient(['--line', '--wait-ms', '200', '127.0.0.1', String(echoServer.port)]);
    client.child.stdin.write('one\n');
    await client.waitForStdout('one\n');
    client.child.stdin.write('two\n');
    await client.waitForStdout('two\n');
    client.child.stdin.end();
    expect(await client.exitCode()).toBe(0);
    expect(client.stdout).toBe('one\ntwo\n');
  });

  it('waits --wait-ms after the last line for a silent server, then exits 0', async () => {
    await using silentServer = await startRawServer();
    const client = new PipedClient(['--line', '--wait-ms', '300', '127.0.0.1', String(silentServer.port)]);
    const serverSide = await silentServer.firstConnection();
    const received = once(serverSide, 'data', { signal: AbortSignal.timeout(5000) });
    client.child.stdin.end('anyone?\n');
    expect(String(await received)).toBe('anyone?\n');
    const inputEndedAt = performance.now();
    expect(await client.exitCode()).toBe(0);
    expect(performance.now() - inputEndedAt).toBeGreaterThanOrEqual(300);
    expect(client.stdout).toBe('');
    expect(client.stderr).toBe('');
  });

  it('exits 0 when the server closes the connection, even with the input still open', async () => {
    await using byeServer = await startRawServer((socket) => socket.end('bye\n'));
    const client = new PipedClient(['--line', '127.0.0.1', String(byeServer.port)]);
    expect(await client.exitCode()).toBe(0);
    expect(client.stdout).toBe('bye\n');
  });

  it('reports a refused connection as one line on stderr and exits 1', async () => {
    const port = await closedPort();
    const client = new PipedClient(['--line', '127.0.0.1', String(port)]);
    client.child.stdin.end('Hello\n');
    expect(await client.exitCode()).toBe(1);
    expect(client.stderr).toBe(`repl-client: Connection refused by 127.0.0.1:${port}\n`);
    expect(client.stdout).toBe('');
  });

  it('reports a reset connection as one line on stderr and exits 1', async () => {
    await using resettingServer = await startRawServer((socket) =>
      socket.once('data', () => socket.resetAndDestroy()),
    );
    const client = new PipedClient(['--line', '127.0.0.1', String(resettingServer.port)]);
    client.child.stdin.write('boom\n');
    expect(await client.exitCode()).toBe(1);
    expect(client.stderr).toBe(`repl-client: Connection reset by 127.0.0.1:${resettingServer.port}\n`);
  });
});

describe('repl-client, line mode over Unix and datagram sockets', () => {
  it('--unix: sends the lines to a Unix stream server and prints the responses, then exits 0', async () => {
    await using server = await startUnixStreamEchoServer();
    const client = new PipedClient(['--unix', server.path, '--wait-ms', '200']);
    client.child.stdin.end('Hello\nsocketserver');
    expect(await client.exitCode()).toBe(0);
    expect(client.stdout).toBe('Hello\nsocketserver\n');
    expect(client.stderr).toBe('');
  });

  it.runIf(process.platform === 'linux')('--unix @name: connects to a Linux abstract name', async () => {
    const name = `repl-client-test-${randomUUID()}`;
    await using _server = await startUnixStreamEchoServer(`\0${name}`);
    const client = new PipedClient(['--line', '--unix', `@${name}`, '--wait-ms', '100']);
    client.child.stdin.end('abstract\n');
    expect(await client.exitCode()).toBe(0);
    expect(client.stdout).toBe('abstract\n');
  });

  it('--unix: reports a missing socket as one line on stderr and exits 1', async () => {
    await using directory = await temporaryDirectory();
    const path = join(directory.path, 'missing.sock');
    const client = new PipedClient(['--line', '--unix', path]);
    client.child.stdin.end('Hello\n');
    expect(await client.exitCode()).toBe(1);
    expect(client.stderr).toBe(`repl-client: Connection refused by ${path}: no such file\n`);
    expect(client.stdout).toBe('');
  });

  it('--protocol udp: sends each line as one datagram and prints every datagram received, then exits 0', async () => {
    await using server = await startUDPServer();
    const client = new PipedClient([
      '--protocol',
      'udp',
      '--wait-ms',
      '200',
      '127.0.0.1',
      String(server.port),
    ]);
    client.child.stdin.end('Hello\n\nsocketserver');
    expect(await client.exitCode()).toBe(0);
    expect(server.received.map(String)).toEqual(['Hello\n', '\n', 'socketserver\n']);
    expect(client.stdout).toBe('Hello\n\nsocketserver\n');
    expect(client.stderr).toBe('');
  });

  it('--protocol udp: prints each reply as it comes, while the input is still open', async () => {
    await using server = await startUDPServer();
    const client = new PipedClient([
      '--line',
      '--protocol',
      'udp',
      '--wait-ms',
      '200',
      '127.0.0.1',
      String(server.port),
    ]);
    // Two writes of one line, each split across chunks: still one datagram a line.
    client.child.stdin.write('o');
    client.child.stdin.write('ne\n');
    await client.waitForStdout('one\n');
    client.child.stdin.write('two\n');
    await client.waitForStdout('two\n');
    client.child.stdin.end();
    expect(await client.exitCode()).toBe(0);
    expect(server.received.map(String)).toEqual(['one\n', 'two\n']);
    expect(client.stdout).toBe('one\ntwo\n');
  });

  it('--protocol udp: waits --wait-ms after the last line for a silent server, then exits 0', async () => {
    await using server = await startUDPServer({ isSilent: true });
    const client = new PipedClient([
      '--line',
      '--protocol',
      'udp',
      '--wait-ms',
      '300',
      '127.0.0.1',
      String(server.port),
    ]);
    client.child.stdin.end('anyone?\n');
    await server.receivedCount(1);
    const inputEndedAt = performance.now();
    expect(await client.exitCode()).toBe(0);
    expect(performance.now() - inputEndedAt).toBeGreaterThanOrEqual(300);
    expect(server.received.map(String)).toEqual(['anyone?\n']);
    expect(client.stdout).toBe('');
    expect(client.stderr).toBe('');
  });

  it('--protocol udp --unix: sends each line as one datagram to a Unix datagram server, prints the replies', async () => {
    await using server = await startUnixDatagramServer();
    const client = new PipedClient(['--protocol', 'udp', '--unix', server.path, '--wait-ms', '200']);
    client.child.stdin.end('Hello\nsocketserver\n');
    expect(await client.exitCode()).toBe(0);
    expect(server.received.map(String)).toEqual(['Hello\n', 'socketserver\n']);
    expect(client.stdout).toBe('Hello\nsocketserver\n');
    expect(client.stderr).toBe('');
  });

  it('--protocol udp --unix: reports a missing server socket as one line on stderr and exits 1', async () => {
    await using directory = await temporaryDirectory();
    const path = join(directory.path, 'missing.sock');
    const client = new PipedClient(['--line', '--protocol', 'udp', '--unix', path]);
    client.child.stdin.end('Hello\n');
    expect(await client.exitCode()).toBe(1);
    expect(client.stderr).toBe(`repl-client: Connection refused by ${path}: no such file\n`);
    expect(client.stdout).toBe('');
  });
});
