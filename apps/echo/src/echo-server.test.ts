import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { waitUntilRefused } from './test-support/wait-until-refused.js';
import { echoServerBin, runningOnPortLine, runToExit, startEchoServer } from './test-support/echo-process.js';

function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
}

/** Every handler with every strategy of the contract; the pool with both kinds of worker. */
const variants = ['raw', 'stream', 'line'].flatMap((handler) =>
  [
    ['--strategy', 'serial'],
    ['--strategy', 'async'],
    ['--strategy', 'thread'],
    ['--strategy', 'fork'],
    ['--strategy', 'pool', '--workers', '2'],
    ['--strategy', 'pool', '--workers', '2', '--pool-kind', 'process'],
  ]
    .map((flags) => ['--handler', handler, ...flags])
    .map((flags) => ({ name: flags.join(' '), flags })),
);

describe.each(variants)('echo-server $name', ({ flags }) => {
  const banner = flags.includes('pool') ? 'Multithreaded server' : 'Echo server';

  it('runs the recipe session: Hello echoed, the connection announced, SIGINT leaves with status 1', async () => {
    const { server, port } = await startEchoServer(['--port', '0', ...flags]);
    const client = await connect('localhost', port);
    expect(await client.send('Hello\n')).toBe(6);
    expect((await client.recv(8192)).toString()).toBe('Hello\n');
    await server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
    await client.close();
    server.kill('SIGINT');
    expect(await server.waitForExit()).toEqual({ code: 1, signal: null });
    expect(server.stdout).toBe(
      `${banner} running on port ${port}\nGot connection from ('127.0.0.1', ${client.localPort})\n\n\nLeaving.\n`,
    );
    expect(server.stderr).toBe('');
  });

  it('echoes 1 MiB of random bytes byte-exact', async () => {
    const { port } = await startEchoServer(['--port', '0', ...flags, '--quiet']);
    await using client = await connect('127.0.0.1', port);
    const payload = randomBytes(1 << 20);
    // Half-close once sent, so the stream handler also echoes the final unterminated line.
    const sent = client.sendAll(payload).then(() => client.shutdownWrite());
    const received = await client.recvUntilClosed({ timeoutMs: 20_000 });
    await sent;
    expect(received.equals(payload)).toBe(true);
  });
});

describe('echo-server: the recipe transcripts', () => {
  it('announces each of three connections in turn (async strategy, the default)', async () => {
    const { server, port } = await startEchoServer(['--port', '0']);
    const ports: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      await using client = await connect('localhost', port);
      ports.push(client.localPort);
      await server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
    }
    server.kill('SIGINT');
    expect((await server.waitForExit()).code).toBe(1);
    expect(server.stdoutLines).toEqual([
      `Echo server running on port ${port}`,
      ...ports.map((p) => `Got connection from ('127.0.0.1', ${p})`),
      '',
      '',
      'Leaving.',
    ]);
  });

  it('listens on every interface by default: IPv4 clients as IPv4, IPv6 clients as a 4-tuple', async () => {
    const { server, port } = await startEchoServer(['--port', '0']);
    await using v4 = await connect('127.0.0.1', port);
    await server.waitForLine(`Got connection from ('127.0.0.1', ${v4.localPort})`);
    await using v6 = await connect('::1', port);
    await server.waitForLine(`Got connection from ('::1', ${v6.localPort}, 0, 0)`);
    expect(server.stdout).not.toContain('::ffff:');
  });

  it('--quiet prints no per-connection lines', async () => {
    const { server, port } = await startEchoServer(['--port', '0', '--quiet']);
    await using client = await connect('127.0.0.1', port);
    await client.sendAll('x\n');
    expect((await client.readline()).toString()).toBe('x\n');
    await client.close();
    server.kill('SIGINT');
    await server.waitForExit();
    expect(server.stdoutLines).toEqual([`Echo server running on port ${port}`, '', '', 'Leaving.']);
  });
});

describe('echo-server: signals', () => {
  it('SIGTERM stops accepting, lets an open connection finish, and exits 0', async () => {
    const { server, port } = await startEchoServer(['--port', '0', '--quiet']);
    await using client = await connect('127.0.0.1', port);
    await client.sendAll('one\n');
    expect((await client.readline()).toString()).toBe('one\n');
    server.kill('SIGTERM');
    await waitUntilRefused(port);
    await client.sendAll('two\n');
    expect((await client.readline()).toString()).toBe('two\n');
    await client.close();
    expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
    expect(server.stderr).toBe('');
  });

  it('SIGTERM closes a connection that outlives --drain-timeout, then exits 0', async () => {
    const { server, port } = await startEchoServer(['--port', '0', '--quiet', '--drain-timeout', '200']);
    await using idle = await connect('127.0.0.1', port);
    await idle.sendAll('x\n');
    await idle.readline();
    server.kill('SIGTERM');
    expect(await idle.recv(1, { timeoutMs: 5000 })).toHaveLength(0);
    expect((await server.waitForExit()).code).toBe(0);
  });

  it.each([[['--strategy', 'fork']], [['--strategy', 'pool', '--workers', '3', '--pool-kind', 'process']]])(
    '%j: SIGINT to the server process leaves no child process behind',
    async (flags) => {
      const { server, port } = await startEchoServer(['--port', '0', '--quiet', ...flags]);
      await using client = await connect('127.0.0.1', port);
      await client.sendAll('x\n');
      await client.readline();
      const children = childrenOf(server.child.pid ?? 0);
      expect(children.length).toBeGreaterThan(0);
      server.kill('SIGINT');
      expect((await server.waitForExit()).code).toBe(1);
      for (const pid of children) await waitUntilGone(pid);
    },
  );

  it('--strategy pool runs its workers as threads, or with --pool-kind process as child processes', async () => {
    const threadFlags = ['--port', '0', '--quiet', '--strategy', 'pool', '--workers', '2'];
    const { server: threads, port } = await startEchoServer(threadFlags);
    const { server: processes, port: processPort } = await startEchoServer([
      ...threadFlags,
      '--pool-kind',
      'process',
    ]);
    // Workers start before the first accept: once a request is served, all of them are up.
    for (const p of [port, processPort]) {
      await using client = await connect('127.0.0.1', p);
      await client.sendAll('x\n');
      await client.readline();
    }
    expect(childrenOf(threads.child.pid ?? 0)).toEqual([]);
    expect(childrenOf(processes.child.pid ?? 0)).toHaveLength(2);
  });

  it('SIGINT with open connections exits 1 and frees the port', async () => {
    const { server, port } = await startEchoServer(['--port', '0', '--quiet']);
    await using client = await connect('127.0.0.1', port);
    await client.sendAll('x\n');
    await client.readline();
    server.kill('SIGINT');
    expect((await server.waitForExit()).code).toBe(1);
    expect(await client.recv(1)).toHaveLength(0);
    const again = net.createServer().listen(port, '127.0.0.1');
    onTestFinished(() => void again.close());
    await once(again, 'listening', { signal: AbortSignal.timeout(5000) });
  });
});

describe('echo-server: limits', () => {
  it.each(['stream', 'line'])(
    '--handler %s --max-line-length: a longer line closes that connection after the lines before it',
    async (handler) => {
      const args = ['--port', '0', '--quiet', '--handler', handler, '--max-line-length', '16'];
      const { server, port } = await startEchoServer(args);
      await using offender = await connect('127.0.0.1', port);
      await offender.sendAll(`fits\n${'x'.repeat(1000)}\nnever\n`);
      expect((await offender.readline()).toString()).toBe('fits\n');
      // The server ends the connection (EOF, or a reset since it left the line unread).
      await offender.waitForClose({ timeoutMs: 5000 });
      await using next = await connect('127.0.0.1', port);
      await next.sendAll('fits in sixteen\n');
      expect((await next.readline()).toString()).toBe('fits in sixteen\n');
      expect(server.stderr).toMatch(/ERR_LINE_TOO_LONG/);
      expectNoStackTrace(server.stderr);
    },
  );

  it('--handler line echoes 20,000 pipelined lines in order', async () => {
    const { port } = await startEchoServer(['--port', '0', '--quiet', '--handler', 'line']);
    await using client = await connect('127.0.0.1', port);
    const lines = Array.from({ length: 20_000 }, (_, index) => `line ${index}\n`).join('');
    const sent = client.sendAll(lines).then(() => client.shutdownWrite());
    const received = await client.recvUntilClosed({ timeoutMs: 20_000 });
    await sent;
    expect(received.toString()).toBe(lines);
  });

  it('--idle-timeout closes a silent connection', async () => {
    const { port } = await startEchoServer(['--port', '0', '--quiet', '--idle-timeout', '100']);
    await using silent = await connect('127.0.0.1', port);
    expect(await silent.recv(1, { timeoutMs: 5000 })).toHaveLength(0);
  });

  it('--idle-timeout 0 turns it off: a connection silent for 300 ms is echoed on', async () => {
    const { server, port } = await startEchoServer(['--port', '0', '--quiet', '--idle-timeout', '0']);
    await using client = await connect('127.0.0.1', port);
    await client.sendAll('first\n');
    expect((await client.readline()).toString()).toBe('first\n');
    await delay(300); // the silence is what is tested
    await client.sendAll('second\n');
    expect((await client.readline()).toString()).toBe('second\n');
    expect(server.stderr).toBe('');
  });

  it('--max-connections drops a connection beyond the cap', async () => {
    const { port } = await startEchoServer(['--port', '0', '--quiet', '--max-connections', '1']);
    await using first = await connect('127.0.0.1', port);
    await first.sendAll('a\n');
    expect((await first.readline()).toString()).toBe('a\n');
    await using second = await connect('127.0.0.1', port);
    expect(await second.recv(1)).toHaveLength(0);
  });
});

describe('echo-server --accept workers', () => {
  it.each(['thread', 'process'])(
    'a pool of %s workers that accept themselves runs the recipe session: Hello echoed, the connection announced',
    async (kind) => {
      const flags = ['--strategy', 'pool', '--workers', '2', '--pool-kind', kind, '--accept', 'workers'];
      const { server, port } = await startEchoServer(['--port', '0', ...flags]);
      const client = await connect('127.0.0.1', port);
      expect(await client.send('Hello\n')).toBe(6);
      expect((await client.recv(8192)).toString()).toBe('Hello\n');
      await server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
      await client.close();
      server.kill('SIGINT');
      expect(await server.waitForExit()).toEqual({ code: 1, signal: null });
      expect(server.stdout).toBe(
        `Multithreaded server running on port ${port}\nGot connection from ('127.0.0.1', ${client.localPort})\n\n\nLeaving.\n`,
      );
      expect(server.stderr).toBe('');
    },
  );
});

describe('echo-server --requests-per-worker', () => {
  it.each(['thread', 'process'])(
    'a pool of one %s worker with --requests-per-worker 3 serves 3 connections at once',
    async (kind) => {
      const args = ['--port', '0', '--quiet', '--strategy', 'pool', '--workers', '1', '--pool-kind', kind];
      const { port } = await startEchoServer([...args, '--requests-per-worker', '3']);
      const clients = await Promise.all([1, 2, 3].map(async () => connect('127.0.0.1', port)));
      onTestFinished(async () => {
        await Promise.all(clients.map(async (client) => client.close()));
      });
      // All three answer while all stay open: one worker serves them together.
      for (const [index, client] of clients.entries()) await client.sendAll(`client ${index}\n`);
      const answers = await Promise.all(
        clients.map(async (client) => client.readline({ timeoutMs: 10_000 })),
      );
      expect(answers.map(String)).toEqual(['client 0\n', 'client 1\n', 'client 2\n']);
    },
  );

  it('a pool of one worker with the default (1) serves a second connection once the first ends', async () => {
    const args = ['--port', '0', '--quiet', '--strategy', 'pool', '--workers', '1'];
    const { port } = await startEchoServer(args);
    await using first = await connect('127.0.0.1', port);
    await first.sendAll('first\n');
    expect((await first.readline()).toString()).toBe('first\n');
    await using second = await connect('127.0.0.1', port);
    await second.sendAll('second\n');
    const answered = second.readline({ timeoutMs: 10_000 });
    await first.close(); // frees the worker
    expect((await answered).toString()).toBe('second\n');
  });
});

/**
 * Open `count` connections at once, each sending one line and half-closing; how many got their
 * line back and how many were closed or reset without it (each bounded by `timeoutMs`).
 */
async function flood(
  port: number,
  count: number,
  timeoutMs: number,
): Promise<{ echoed: number; lost: number }> {
  let echoed = 0;
  const attempts = Array.from({ length: count }, async () => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8').on('data', (text: string) => (received += text));
    socket.on('error', () => {}); // a reset counts as lost, below ('close' follows it)
    socket.once('connect', () => socket.end('flood\n'));
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    await new Promise((resolve) => socket.once('close', resolve));
    clearTimeout(timer);
    if (received === 'flood\n') echoed += 1;
  });
  await Promise.all(attempts);
  return { echoed, lost: count - echoed };
}

describe('echo-server under a low fd limit', () => {
  it.each([
    ['a pool of 16 threads', ['--strategy', 'pool', '--workers', '16']],
    ['one async process', ['--strategy', 'async']],
    [
      'a pool of 2 threads accepting themselves',
      ['--strategy', 'pool', '--workers', '2', '--requests-per-worker', '64', '--accept', 'workers'],
    ],
    [
      'a pool of 2 processes accepting themselves',
      ['--strategy', 'pool', '--workers', '2', '--requests-per-worker', '64', '--pool-kind', 'process'],
    ],
  ])('%s flooded with 300 connections right after its banner serves on', async (_name, strategyFlags) => {
    // `ulimit -n 128`: the flood takes the descriptors the server needs to accept, and a pool's
    // workers need to start; libuv closes what it cannot accept, and the server must not die.
    const flags = ['--port', '0', '--quiet', ...strategyFlags];
    const script = 'ulimit -n 128 && exec "$0" "$@"';
    const server = ServerProcess.start('sh', ['-c', script, process.execPath, echoServerBin, ...flags]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    const port = Number(runningOnPortLine.exec(await server.waitForLine(runningOnPortLine))?.[1]);
    const { echoed, lost } = await flood(port, 300, 5_000);
    expect(echoed + lost).toBe(300);
    expect(echoed).toBeGreaterThan(0);
    // Still serving once the flood is over, with a few lines on stderr, not one per failed start.
    await using after = await connect('127.0.0.1', port);
    await after.sendAll('after the flood\n');
    expect((await after.readline({ timeoutMs: 15_000 })).toString()).toBe('after the flood\n');
    expect(server.isRunning).toBe(true);
    expect(server.stderr.split('\n').filter((line) => line !== '').length).toBeLessThanOrEqual(6);
    expectNoStackTrace(server.stderr);
  });
});

describe('echo-server: bad input', () => {
  it.each([
    [['--port', 'abc']],
    [['--port', '70000']],
    [['--port', '-1']],
    [['--port']],
    [['--strategy', 'bogus']],
    [['--handler', 'xml']],
    [['--workers', '0']],
    [['--pool-kind', 'fiber']],
    [['--max-connections', '0']],
    [['--idle-timeout', 'soon']],
    [['--idle-timeout', '2147483648']],
    [['--drain-timeout', '2147483648']],
    [['--max-line-length', '0']],
    [['--strategy', 'pool', '--requests-per-worker', '0']],
    [['--strategy', 'pool', '--accept', 'nope']],
    [['--frobnicate']],
    [['extra-argument']],
  ])('%j: usage on stderr, exit 2, no stack trace', async (args) => {
    const { code, stdout, stderr } = await runToExit(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: /);
    expect(stderr).toContain('Usage: echo-server [options]');
    expectNoStackTrace(stderr);
  });

  it('--requests-per-worker without --strategy pool: one line, exit 2', async () => {
    const { code, stdout, stderr } = await runToExit(['--port', '0', '--requests-per-worker', '4']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toBe('error: option --requests-per-worker applies to --strategy pool');
    expectNoStackTrace(stderr);
  });

  it('--accept without --strategy pool: one line, exit 2', async () => {
    const { code, stdout, stderr } = await runToExit(['--port', '0', '--accept', 'workers']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toBe('error: option --accept applies to --strategy pool');
    expectNoStackTrace(stderr);
  });

  it('--accept with a value other than main or workers: one line naming the choices, exit 2', async () => {
    const { code, stdout, stderr } = await runToExit([
      '--port',
      '0',
      '--strategy',
      'pool',
      '--accept',
      'nope',
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toBe(
      "error: option '--accept <who>' argument 'nope' is invalid. Allowed choices are main, workers.",
    );
    expectNoStackTrace(stderr);
  });

  it('--handler line with --protocol udp: one line, exit 2', async () => {
    const { code, stdout, stderr } = await runToExit([
      '--port',
      '0',
      '--handler',
      'line',
      '--protocol',
      'udp',
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toMatch(/--handler line applies to stream connections/);
    expectNoStackTrace(stderr);
  });

  it('a port in use: one line naming the address and port, exit 1', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    onTestFinished(() => void taken.close());
    await once(taken, 'listening', { signal: AbortSignal.timeout(5000) });
    const { port } = taken.address() as net.AddressInfo;
    const { code, stdout, stderr } = await runToExit(['--host', '127.0.0.1', '--port', String(port)]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`echo-server: cannot listen on 127.0.0.1 port ${port}: address already in use\n`);
  });

  it('--no-reuse-address, which this platform cannot honour: one line, exit 2', async () => {
    const { code, stderr } = await runToExit(['--port', '0', '--no-reuse-address']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^echo-server: allowReuseAddress=false is not supported here: .*\n$/);
  });

  it('a host that does not resolve: one line, exit 1', async () => {
    const { code, stderr } = await runToExit(['--host', 'no-such-host.invalid', '--port', '0']);
    expect(code).toBe(1);
    expect(stderr).toBe('echo-server: cannot resolve host no-such-host.invalid\n');
  });

  it('--help documents every flag and the reuse-address default, exit 0', async () => {
    const { code, stdout, stderr } = await runToExit(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    for (const flag of [
      '--host',
      '--port',
      '--handler',
      '--strategy',
      '--workers',
      '--pool-kind',
      '--requests-per-worker',
      '--accept',
      '--max-connections',
      '--idle-timeout',
      '--max-line-length',
      '--reuse-address',
      '--no-reuse-address',
      '--quiet',
      '--version',
    ]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toContain('platform default: on');
    // What 0 means for each time flag: off for the idle timeout, no wait for the drain.
    const text = stdout.replace(/\s+/g, ' ');
    expect(text).toContain('--idle-timeout <ms> close a connection silent for this long; 0 turns it off');
    expect(text).toContain('--drain-timeout <ms> on SIGTERM, how long open connections may finish; 0: close');
    // What a public-facing server should set, as docs/deploying.md says.
    expect(text).toContain('A server that faces the network should set --idle-timeout');
    expect(text).toContain('--max-connections (sized to the fd limit and memory');
  });

  it('a leading -- (as `pnpm start -- --help` passes it) is only a separator', async () => {
    const { code, stdout } = await runToExit(['--', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: echo-server [options]');
  });

  it('--version prints the version, exit 0', async () => {
    const { code, stdout } = await runToExit(['--version']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

/** The pids of a process's children, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        // After the parenthesised command name of /proc/PID/stat come the state, then the parent pid.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Resolves once `pid` no longer exists; polls the kernel (no event tells another process's end), bounded. */
async function waitUntilGone(pid: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} is still running`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
