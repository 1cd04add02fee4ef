import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectUnix, DatagramClient } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it, onTestFinished } from 'vitest';

const bin = fileURLToPath(new URL('../bin/echo-server.js', import.meta.url));
const runningLine = /^(?:Echo|Multithreaded) server running on (.+)$/;

/** Start echo-server with these flags; killed when the test ends. Resolves with where it runs. */
async function startEchoServer(args: readonly string[]): Promise<{ server: ServerProcess; where: string }> {
  const server = ServerProcess.start(process.execPath, [bin, ...args]);
  onTestFinished(() => server[Symbol.asyncDispose]());
  const line = await server.waitForLine(runningLine);
  return { server, where: runningLine.exec(line)?.[1] ?? '' };
}

/** Run echo-server to its end (a bad flag, a path in use): its output and exit code. */
async function runToExit(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  await using server = ServerProcess.start(process.execPath, [bin, ...args]);
  const { code } = await server.waitForExit();
  return { code, stdout: server.stdout, stderr: server.stderr };
}

/** A fresh directory for socket files, removed when the test ends. */
function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'echo-'));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** A UDP client bound on loopback, closed when the test ends. */
async function openUDP(family: 4 | 6 = 4): Promise<DatagramClient> {
  const client = await DatagramClient.openUDP({ family });
  onTestFinished(() => client.close());
  return client;
}

function udpPort(client: DatagramClient): number {
  return (client.address as readonly [string, number])[1];
}

/** stderr comes through its own pipe, in no order with the datagrams: wait for it, bounded. */
async function waitForStderr(server: ServerProcess, text: string): Promise<void> {
  await server.waitForStderr(text, { timeoutMs: 5000 });
}

function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
}

/** Every strategy of the contract, for datagrams. */
const strategies = [
  ['--strategy', 'serial'],
  ['--strategy', 'async'],
  ['--strategy', 'thread'],
  ['--strategy', 'fork'],
  ['--strategy', 'pool', '--workers', '2'],
  ['--strategy', 'pool', '--workers', '2', '--pool-kind', 'process'],
];
const udpVariants = ['raw', 'stream'].flatMap((handler) =>
  strategies.map((flags) => {
    const all = ['--protocol', 'udp', '--handler', handler, ...flags];
    return { name: all.join(' '), flags: all };
  }),
);

describe.each(udpVariants)('echo-server $name', ({ flags }) => {
  const banner = flags.includes('pool') ? 'Multithreaded server' : 'Echo server';

  it("runs the recipe session over UDP: Hello echoed from the server's port, the datagram announced", async () => {
    const { server, where } = await startEchoServer(['--port', '0', ...flags]);
    const port = Number(/^port (\d+)$/.exec(where)?.[1]);
    const client = await openUDP();
    await client.sendTo('Hello\n', ['127.0.0.1', port]);
    const [reply, from] = await client.recvFrom({ timeoutMs: 20_000 });
    expect(reply.toString()).toBe('Hello\n');
    expect(from).toEqual(['127.0.0.1', port]);
    await server.waitForLine(`Got connection from ('127.0.0.1', ${udpPort(client)})`);
    server.kill('SIGINT');
    expect(await server.waitForExit()).toEqual({ code: 1, signal: null });
    expect(server.stdout).toBe(
      `${banner} running on port ${port}\nGot connection from ('127.0.0.1', ${udpPort(client)})\n\n\nLeaving.\n`,
    );
    expect(server.stderr).toBe('');
  });
});

describe('echo-server --protocol udp', () => {
  it('answers each of 10 clients, 20 datagrams each, to the right sender; IPv6 clients as a 4-tuple', async () => {
    const { server, where } = await startEchoServer(['--protocol', 'udp', '--port', '0']);
    const port = Number(/^port (\d+)$/.exec(where)?.[1]);
    const clients = await Promise.all(
      Array.from({ length: 10 }, (_, index) => openUDP(index % 2 === 0 ? 4 : 6)),
    );
    await Promise.all(
      clients.map(async (client, index) => {
        const host = index % 2 === 0 ? '127.0.0.1' : '::1';
        // One at a time per client: loopback UDP never drops a paced exchange.
        for (let sequence = 0; sequence < 20; sequence += 1) {
          const payload = `client ${index} datagram ${sequence}\n`;
          await client.sendTo(payload, [host, port]);
          const [reply] = await client.recvFrom({ timeoutMs: 10_000 });
          expect(reply.toString()).toBe(payload);
        }
      }),
    );
    await server.waitForLine(`Got connection from ('::1', ${udpPort(clients[1] as DatagramClient)}, 0, 0)`);
    expect(server.stdout).not.toContain('::ffff:');
  });

  it('--max-packet-size: a longer datagram is cut, reported in one line, and the server serves on', async () => {
    const { server, where } = await startEchoServer([
      '--protocol',
      'udp',
      '--handler',
      'raw',
      '--port',
      '0',
      '--max-packet-size',
      '100',
      '--quiet',
    ]);
    const port = Number(/^port (\d+)$/.exec(where)?.[1]);
    const client = await openUDP();
    const payload = randomBytes(300);
    await client.sendTo(payload, ['127.0.0.1', port]);
    const [reply] = await client.recvFrom({ timeoutMs: 10_000 });
    expect(reply.equals(payload.subarray(0, 100))).toBe(true);
    await client.sendTo('next\n', ['127.0.0.1', port]);
    expect((await client.recvFrom({ timeoutMs: 10_000 }))[0].toString()).toBe('next\n');
    const line = `Error handling request from ('127.0.0.1', ${udpPort(client)}): ERR_DATAGRAM_TRUNCATED: datagram of 300 bytes truncated to maxPacketSize (100 bytes)\n`;
    await waitForStderr(server, line);
    expect(server.stderr).toBe(line);
  });

  it('the default 8192-byte packet size cuts a 9000-byte datagram', async () => {
    const { server, where } = await startEchoServer(['--protocol', 'udp', '--handler', 'raw', '--port', '0']);
    const port = Number(/^port (\d+)$/.exec(where)?.[1]);
    const client = await openUDP();
    await client.sendTo(Buffer.alloc(9000, 7), ['127.0.0.1', port]);
    expect((await client.recvFrom({ timeoutMs: 10_000 }))[0]).toHaveLength(8192);
    await waitForStderr(server, 'datagram of 9000 bytes truncated to maxPacketSize (8192 bytes)');
  });

  it('SIGTERM lets a running datagram finish and exits 0', async () => {
    const { server, where } = await startEchoServer(['--protocol', 'udp', '--port', '0']);
    const port = Number(/^port (\d+)$/.exec(where)?.[1]);
    const client = await openUDP();
    await client.sendTo('before\n', ['127.0.0.1', port]);
    await client.recvFrom({ timeoutMs: 10_000 });
    server.kill('SIGTERM');
    expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
  });

  it('a UDP port in use: one line naming the address and port, exit 1', async () => {
    const taken = createSocket('udp4');
    onTestFinished(() => void taken.close());
    taken.bind(0, '127.0.0.1');
    await once(taken, 'listening', { signal: AbortSignal.timeout(5000) });
    const { port } = taken.address();
    const { code, stdout, stderr } = await runToExit([
      '--protocol',
      'udp',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`echo-server: cannot listen on 127.0.0.1 port ${port}: address already in use\n`);
  });
});

describe('echo-server --unix', () => {
  it.each([
    ['async', ['--strategy', 'async']],
    ['serial', ['--strategy', 'serial', '--handler', 'raw']],
    ['fork', ['--strategy', 'fork']],
    ['process pool', ['--strategy', 'pool', '--workers', '2', '--pool-kind', 'process']],
  ])(
    'serves a Unix stream socket (%s): Hello, the peer as Python prints it, 1 MiB byte-exact',
    async (_name, flags) => {
      const path = join(temporaryDirectory(), 'echo.sock');
      const { server, where } = await startEchoServer(['--unix', path, ...flags]);
      expect(where).toBe(path);
      const hello = await connectUnix(path);
      await hello.sendAll('Hello\n');
      expect((await hello.readline({ timeoutMs: 20_000 })).toString()).toBe('Hello\n');
      await server.waitForLine("Got connection from ''");
      await hello.close(); // the serial strategy serves the next connection only then

      await using client = await connectUnix(path);
      const payload = randomBytes(1 << 20);
      const sent = client.sendAll(payload).then(() => client.shutdownWrite());
      const received = await client.recvUntilClosed({ timeoutMs: 30_000 });
      await sent;
      expect(received.equals(payload)).toBe(true);
      expect(server.stderr).toBe('');
    },
  );

  it('SIGINT removes the socket file; SIGTERM too', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const path = join(temporaryDirectory(), 'echo.sock');
      const { server } = await startEchoServer(['--unix', path]);
      expect(statSync(path).isSocket()).toBe(true);
      server.kill(signal);
      expect((await server.waitForExit()).code).toBe(signal === 'SIGINT' ? 1 : 0);
      expect(existsSync(path)).toBe(false);
    }
  });

  it('reuses the stale file of a server that died, and refuses the path of a live one', async () => {
    const path = join(temporaryDirectory(), 'echo.sock');
    const { server: first } = await startEchoServer(['--unix', path]);
    first.kill('SIGKILL');
    await first.waitForExit();
    expect(statSync(path).isSocket()).toBe(true); // left behind

    const { server: second } = await startEchoServer(['--unix', path, '--handler', 'raw']);
    await using client = await connectUnix(path);
    await client.sendAll('again\n');
    expect((await client.recv(8192)).toString()).toBe('again\n');

    const refused = await runToExit(['--unix', path]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe(
      `echo-server: cannot listen on ${path}: address already in use (a live server owns it)\n`,
    );
    // The live server lost nothing.
    await client.sendAll('still\n');
    expect((await client.recv(8192)).toString()).toBe('still\n');
    expect(second.stderr).toBe('');
  });

  it('a path that is not a socket is refused and left as it was', async () => {
    const path = join(temporaryDirectory(), 'not-a-socket');
    closeSync(openSync(path, 'w'));
    const { code, stderr } = await runToExit(['--unix', path]);
    expect(code).toBe(1);
    expect(stderr).toBe(
      `echo-server: cannot listen on ${path}: address already in use (the path exists and is not a socket)\n`,
    );
    expect(statSync(path).isFile()).toBe(true);
  });

  it('--unix-mode sets the socket file permissions', async () => {
    const path = join(temporaryDirectory(), 'echo.sock');
    await startEchoServer(['--unix', path, '--unix-mode', '600']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('--unix @name listens on a Linux abstract name, with no file', async () => {
    const name = `socketserver-echo-${process.pid}-${Date.now()}`;
    const { where } = await startEchoServer(['--unix', `@${name}`]);
    expect(where).toBe(`@${name}`);
    await using client = await connectUnix(`\0${name}`);
    await client.sendAll('abstract\n');
    expect((await client.readline()).toString()).toBe('abstract\n');
  });

  it('--protocol udp serves a Unix datagram socket; the sender shown by its path', async () => {
    const directory = temporaryDirectory();
    const path = join(directory, 'echo.sock');
    const { server, where } = await startEchoServer(['--unix', path, '--protocol', 'udp']);
    expect(where).toBe(path);
    const clientPath = join(directory, 'client.sock');
    await using client = await DatagramClient.openUnix({ path: clientPath });
    await client.sendTo('Hello\n', path);
    const [reply, from] = await client.recvFrom({ timeoutMs: 10_000 });
    expect(reply.toString()).toBe('Hello\n');
    expect(from).toBe(path);
    await server.waitForLine(`Got connection from '${clientPath}'`);
    server.kill('SIGTERM');
    expect((await server.waitForExit()).code).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('--protocol udp --strategy fork on a Unix datagram socket', async () => {
    const directory = temporaryDirectory();
    const path = join(directory, 'echo.sock');
    await startEchoServer(['--unix', path, '--protocol', 'udp', '--strategy', 'fork', '--quiet']);
    await using client = await DatagramClient.openUnix();
    await client.sendTo('forked\n', path);
    expect((await client.recvFrom({ timeoutMs: 20_000 }))[0].toString()).toBe('forked\n');
  });

  it('an unnamed Unix datagram sender cannot be answered: one line on stderr, the server serves on', async () => {
    const directory = temporaryDirectory();
    const path = join(directory, 'echo.sock');
    const { server } = await startEchoServer(['--unix', path, '--protocol', 'udp']);
    // An abstract-bound sender arrives unnamed through node-unix-socket, as an unbound one would.
    await using unnamed = await DatagramClient.openUnix({ path: `\0socketserver-unnamed-${process.pid}` });
    await unnamed.sendTo('lost\n', path);
    await server.waitForLine("Got connection from ''");
    await using named = await DatagramClient.openUnix();
    await named.sendTo('found\n', path);
    expect((await named.recvFrom({ timeoutMs: 10_000 }))[0].toString()).toBe('found\n');
    await waitForStderr(
      server,
      "Error handling request from '': ERR_SEND_FAILED: cannot send to an unnamed Unix peer",
    );
    expect(server.stderr.split('\n')).toHaveLength(2); // that one line
  });

  it('a directory the server may not create files in: one line, exit 1', async () => {
    // A user is stopped by a directory's mode (EACCES); root only by sysfs, which makes no sockets
    // (EPERM; EROFS where it is mounted read-only, as in most containers).
    let path = '/sys/socketserver-echo.sock';
    let reason = /(?:permission denied \(EPERM\)|read-only file system \(EROFS\))/;
    if (process.getuid?.() !== 0) {
      const locked = join(temporaryDirectory(), 'locked');
      mkdirSync(locked, { mode: 0o500 });
      onTestFinished(() => chmodSync(locked, 0o700));
      path = join(locked, 'echo.sock');
      reason = /permission denied \(EACCES\)/;
    }
    for (const protocol of ['tcp', 'udp']) {
      const { code, stdout, stderr } = await runToExit(['--unix', path, '--protocol', protocol]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(new RegExp(`^echo-server: cannot listen on ${path}: ${reason.source}\n$`));
    }
  });

  it('a directory that does not exist: one line, exit 1', async () => {
    const path = join(temporaryDirectory(), 'missing', 'echo.sock');
    for (const protocol of ['tcp', 'udp']) {
      const { code, stderr } = await runToExit(['--unix', path, '--protocol', protocol]);
      expect(code).toBe(1);
      expect(stderr).toBe(`echo-server: cannot listen on ${path}: no such directory (ENOENT)\n`);
    }
  });

  it('--protocol udp on an abstract name (@name): one line saying why not, exit 2', async () => {
    const { code, stdout, stderr } = await runToExit(['--unix', '@socketserver-echo', '--protocol', 'udp']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /^echo-server: an abstract name for UnixDatagramServer is not supported here: .*\n$/,
    );
  });

  it('a path too long for sockaddr_un: one line, exit 2', async () => {
    const path = join(temporaryDirectory(), 'x'.repeat(120));
    const { code, stdout, stderr } = await runToExit(['--unix', path]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^echo-server: invalid path: .* \(expected at most 107 bytes: .*\)\n$/);
    expectNoStackTrace(stderr);
  });
});

describe('echo-server: bad input for the new flags', () => {
  it.each([
    [['--protocol', 'sctp']],
    [['--protocol']],
    [['--unix', '']],
    [['--unix', '@']],
    [['--unix', '/tmp/x.sock', '--port', '1']],
    [['--unix', '/tmp/x.sock', '--host', '127.0.0.1']],
    [['--unix', '/tmp/x.sock', '--strategy', 'thread']],
    [['--unix', '/tmp/x.sock', '--strategy', 'pool']],
    [['--unix', '/tmp/x.sock', '--reuse-address']],
    [['--unix', '/tmp/x.sock', '--reuse-port']],
    [['--unix', '@name', '--unix-mode', '600']],
    [['--unix-mode', '600']],
    [['--unix', '/tmp/x.sock', '--unix-mode', '999']],
    [['--unix', '/tmp/x.sock', '--unix-mode', 'rw']],
    [['--protocol', 'udp', '--max-packet-size', '0']],
    [['--protocol', 'udp', '--max-packet-size', '70000']],
    [['--max-packet-size', '100']],
    [['--protocol', 'udp', '--max-connections', '5']],
    [['--protocol', 'udp', '--idle-timeout', '1000']],
  ])('%j: usage on stderr, exit 2, no stack trace', async (args) => {
    const { code, stdout, stderr } = await runToExit(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: /);
    expect(stderr).toContain('Usage: echo-server [options]');
    expectNoStackTrace(stderr);
  });

  it('--help documents the new flags', async () => {
    const { code, stdout } = await runToExit(['--help']);
    expect(code).toBe(0);
    for (const flag of ['--protocol', '--unix <path>', '--unix-mode', '--max-packet-size'])
      expect(stdout).toContain(flag);
  });
});
