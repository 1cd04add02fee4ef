import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, connectUnix, DatagramClient } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it, onTestFinished } from 'vitest';

const bin = fileURLToPath(new URL('../bin/echo-server.js', import.meta.url));
const runningLine = /^Echo server running on (.+)$/;

/**
 * Start echo-server as systemd starts a socket-activated service: the listening socket `fd` as the
 * child's fd 3, LISTEN_FDS=1, LISTEN_FDNAMES, and LISTEN_PID set to the child's own pid (a shell
 * sets it to `$$`, then execs node under the same pid).
 */
function startActivated(
  fd: number,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): ServerProcess {
  const server = ServerProcess.start(
    '/bin/sh',
    ['-c', 'LISTEN_PID=$$ exec "$0" "$@"', process.execPath, bin, ...args],
    { env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'echo', ...env }, fds: [fd] },
  );
  onTestFinished(() => server[Symbol.asyncDispose]());
  return server;
}

/** A fresh directory, removed when the test ends. */
function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'echo-systemd-'));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

describe('echo-server under systemd socket activation', () => {
  it('serves the inherited TCP socket (fd 3) instead of binding, whatever --port says', async () => {
    const bound = new net.BoundSocket({ host: '127.0.0.1', port: 0 });
    const { port } = bound.address();
    const server = startActivated(bound.fd(), ['--port', '1']);
    bound.close(); // the child holds its own copy
    expect(await server.waitForLine(runningLine)).toBe(`Echo server running on port ${port}`);
    const client = await connect('127.0.0.1', port);
    await client.sendAll('Hello\n');
    expect((await client.readline()).toString()).toBe('Hello\n');
    await server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
    await client.close(); // else SIGTERM's drain waits for it
    server.kill('SIGTERM');
    expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
    expect(server.stderr).toBe('');
  });

  it('serves an inherited Unix stream socket', async () => {
    const path = join(temporaryDirectory(), 'echo.sock');
    const bound = new net.BoundSocket({ path } as net.BoundSocketOptions);
    const server = startActivated(bound.fd());
    // Not closed before the test ends: closing the BoundSocket that bound the path removes the file.
    onTestFinished(() => bound.close());
    expect(await server.waitForLine(runningLine)).toBe(`Echo server running on ${path}`);
    await using client = await connectUnix(path);
    await client.sendAll('Hello over an inherited socket\n');
    expect((await client.readline()).toString()).toBe('Hello over an inherited socket\n');
  });

  it('workers started by the server do not take the inherited socket for their own', async () => {
    const bound = new net.BoundSocket({ host: '127.0.0.1', port: 0 });
    const { port } = bound.address();
    const server = startActivated(bound.fd(), [
      '--strategy',
      'pool',
      '--pool-kind',
      'process',
      '--workers',
      '2',
    ]);
    bound.close();
    expect(await server.waitForLine(/running on/)).toBe(`Multithreaded server running on port ${port}`);
    const client = await connect('127.0.0.1', port);
    await client.sendAll('pooled\n');
    expect((await client.readline()).toString()).toBe('pooled\n');
    await client.close();
    server.kill('SIGTERM');
    expect((await server.waitForExit()).code).toBe(0);
  });

  it('--protocol udp cannot take an inherited stream socket: one line, exit 2', async () => {
    const bound = new net.BoundSocket({ host: '127.0.0.1', port: 0 });
    const server = startActivated(bound.fd(), ['--protocol', 'udp']);
    bound.close();
    expect((await server.waitForExit()).code).toBe(2);
    expect(server.stdout).toBe('');
    expect(server.stderr).toMatch(
      /^echo-server: socket activation: fd 3 \(echo\) is served as a stream socket; .*\n$/,
    );
  });

  it('LISTEN_PID of another process: not for this one, it binds --port as usual', async () => {
    const server = ServerProcess.start(process.execPath, [bin, '--port', '0'], {
      env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: '1' },
    });
    onTestFinished(() => server[Symbol.asyncDispose]());
    const [, where] = runningLine.exec(await server.waitForLine(runningLine)) ?? [];
    expect(where).toMatch(/^port \d+$/);
    expect(where).not.toBe('port 0');
  });

  it.skipIf(!hasSocketActivate())(
    'runs under systemd-socket-activate, which starts it on the first connection',
    async () => {
      const port = await freePort();
      const server = ServerProcess.start('systemd-socket-activate', [
        '-l',
        `127.0.0.1:${port}`,
        '--fdname=echo',
        process.execPath,
        bin,
      ]);
      onTestFinished(() => server[Symbol.asyncDispose]());
      await server.waitForStderr(`Listening on 127.0.0.1:${port}`);
      const client = await connect('127.0.0.1', port);
      await client.sendAll('Hello\n');
      expect((await client.readline({ timeoutMs: 20_000 })).toString()).toBe('Hello\n');
      expect(await server.waitForLine(runningLine)).toBe(`Echo server running on port ${port}`);
      await client.close();
      server.kill('SIGTERM');
      expect((await server.waitForExit()).code).toBe(0);
    },
  );
});

describe('echo-server notifies systemd (NOTIFY_SOCKET)', () => {
  it('sends READY=1 once serving and STOPPING=1 on SIGTERM', async () => {
    await using manager = await DatagramClient.openUnix();
    const server = ServerProcess.start(process.execPath, [bin, '--port', '0'], {
      env: { ...process.env, NOTIFY_SOCKET: manager.address as string },
    });
    onTestFinished(() => server[Symbol.asyncDispose]());
    await server.waitForLine(runningLine);
    expect((await manager.recvFrom({ timeoutMs: 10_000 }))[0].toString()).toBe('READY=1');
    server.kill('SIGTERM');
    expect((await manager.recvFrom({ timeoutMs: 10_000 }))[0].toString()).toBe('STOPPING=1');
    expect((await server.waitForExit()).code).toBe(0);
    expect(server.stderr).toBe('');
  });

  it('a NOTIFY_SOCKET nobody listens on: one line on stderr, and the server serves on', async () => {
    const missing = join(temporaryDirectory(), 'gone.sock');
    const server = ServerProcess.start(process.execPath, [bin, '--port', '0'], {
      env: { ...process.env, NOTIFY_SOCKET: missing },
    });
    onTestFinished(() => server[Symbol.asyncDispose]());
    const [, where] = runningLine.exec(await server.waitForLine(runningLine)) ?? [];
    await using client = await connect('127.0.0.1', Number(/\d+$/.exec(where ?? '')?.[0]));
    await client.sendAll('still here\n');
    expect((await client.readline()).toString()).toBe('still here\n');
    expect(server.stderr).toMatch(new RegExp(`^echo-server: cannot notify ${missing}: `));
  });
});

function hasSocketActivate(): boolean {
  return spawnSync('systemd-socket-activate', ['--version']).status === 0;
}

/** A port free a moment ago (systemd-socket-activate takes a fixed one). */
async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => probe.once('listening', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
