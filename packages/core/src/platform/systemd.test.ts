import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { DatagramClient } from '@socketserver/client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { listenFds, notifySystemd } from './systemd.js';

describe('listenFds (sd_listen_fds)', () => {
  it('reads the inherited sockets when LISTEN_PID is this process, and removes the variables', () => {
    const env: NodeJS.ProcessEnv = {
      LISTEN_PID: String(process.pid),
      LISTEN_FDS: '2',
      LISTEN_FDNAMES: 'web:admin',
      OTHER: 'kept',
    };
    const sockets = listenFds({ env });
    expect(sockets.map(({ fd, name }) => ({ fd, name }))).toEqual([
      { fd: 3, name: 'web' },
      { fd: 4, name: 'admin' },
    ]);
    expect(env).toEqual({ OTHER: 'kept' });
  });

  it("names default to 'unknown'; unsetEnvironment: false keeps the variables", () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: String(process.pid), LISTEN_FDS: '1' };
    expect(listenFds({ env, unsetEnvironment: false }).map(({ name }) => name)).toEqual(['unknown']);
    expect(env['LISTEN_FDS']).toBe('1');
  });

  it.each([
    [{}],
    [{ LISTEN_FDS: '1' }],
    [{ LISTEN_PID: '1', LISTEN_FDS: '1' }],
    [{ LISTEN_PID: String(process.pid) }],
  ])('%j: none for this process', (variables) => {
    const env: NodeJS.ProcessEnv = { ...variables };
    expect(listenFds({ env })).toEqual([]);
    expect(env).toEqual({});
  });

  it('a malformed LISTEN_FDS is ERR_INVALID_OPTION', () => {
    expect(() => listenFds({ env: { LISTEN_PID: String(process.pid), LISTEN_FDS: 'three' } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  it('tells a TCP socket from a Unix one, and a Unix one by its path (in a child given fd 3, as systemd does)', async () => {
    const tcp = new net.BoundSocket({ host: '127.0.0.1', port: 0 });
    onTestFinished(() => tcp.close());
    expect(await inChild(tcp.fd(), 'print(JSON.stringify(core.listenFds()));')).toMatchObject([
      { fd: 3, name: 'test', family: 'inet' },
    ]);
    const directory = mkdtempSync(join(tmpdir(), 'systemd-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const path = join(directory, 's.sock');
    const unix = new net.BoundSocket({ path } as net.BoundSocketOptions);
    onTestFinished(() => unix.close());
    expect(await inChild(unix.fd(), 'print(JSON.stringify(core.listenFds()));')).toMatchObject([
      { fd: 3, name: 'test', family: 'unix', path },
    ]);
  });
});

describe('StreamServer with an inherited socket (fd)', () => {
  it('serves it: serverBind binds nothing, serverAddress becomes its address', async () => {
    const bound = new net.BoundSocket({ host: '127.0.0.1', port: 0 });
    onTestFinished(() => bound.close());
    const script = `
      class Echo { constructor(s) { this.s = s } setup() {} async handle() { this.s.resume(); for await (const d of this.s) this.s.write(d) } finish() {} }
      const server = new core.TCPServer(['', 0], Echo, { fd: 3, strategy: core.eventLoopStrategy() });
      await server.listening;
      process.stdout.write(JSON.stringify([server.inheritedFd, server.serverAddress]) + '\\n');
      const serving = server.serveForever();
      process.stdin.once('end', () => void server.serverClose());
      process.stdin.resume();
      await serving;`;
    const child = startChild(bound.fd(), script);
    const firstLine = await new Promise<string>((resolve) =>
      child.stdout.once('data', (data: Buffer) => resolve(data.toString())),
    );
    expect(JSON.parse(firstLine)).toEqual([3, ['127.0.0.1', bound.address().port]]);
    const client = net.connect(bound.address().port, '127.0.0.1');
    client.end('inherited');
    expect((await buffer(client)).toString()).toBe('inherited');
    child.stdin.end();
  });

  it('a socket of the other kind is ERR_INVALID_OPTION; a bad fd ERR_BIND_FAILED', async () => {
    const tcp = new net.BoundSocket({ host: '127.0.0.1', port: 0 });
    onTestFinished(() => tcp.close());
    const attempt = (make: string): string =>
      `try { await (${make}).listening; print('listening'); } catch (error) { print(error.code + ': ' + error.message); }`;
    expect(await inChild(tcp.fd(), attempt(`new core.UnixStreamServer('x.sock', class {}, { fd: 3 })`))).toBe(
      'ERR_INVALID_OPTION: invalid fd: 3 (expected a Unix stream listening socket (this one is TCP: serve it with TCPServer))',
    );
    expect(await inChild(tcp.fd(), attempt(`new core.TCPServer(['', 0], class {}, { fd: 9 })`))).toMatch(
      /^ERR_BIND_FAILED: cannot listen on inherited fd 9: /,
    );
  });
});

describe('notifySystemd (sd_notify)', () => {
  it('sends the state to NOTIFY_SOCKET, and does nothing without it', async () => {
    await using manager = await DatagramClient.openUnix();
    expect(await notifySystemd('READY=1', { NOTIFY_SOCKET: manager.address as string })).toBe(true);
    expect((await manager.recvFrom({ timeoutMs: 5000 }))[0].toString()).toBe('READY=1');
    expect(await notifySystemd('READY=1', {})).toBe(false);
  });

  it('a socket nobody listens on is ERR_SEND_FAILED; an abstract one ERR_UNSUPPORTED_OPTION', async () => {
    await expect(
      notifySystemd('READY=1', { NOTIFY_SOCKET: `/tmp/socketserver-no-such-${process.pid}.sock` }),
    ).rejects.toMatchObject({ code: 'ERR_SEND_FAILED' });
    await expect(
      notifySystemd('READY=1', { NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' }),
    ).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED_OPTION',
    });
  });
});

const coreUrl = new URL('../../dist/index.js', import.meta.url).href;

/** A node child with `fd` as its fd 3 and LISTEN_* set for it, running `script` (core in scope). */
function startChild(
  fd: number,
  script: string,
): ReturnType<typeof spawn> & {
  stdout: NodeJS.ReadableStream;
  stdin: NodeJS.WritableStream;
} {
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'LISTEN_PID=$$ exec "$0" "$@"',
      process.execPath,
      '--input-type=module',
      '-e',
      `const core = await import(${JSON.stringify(coreUrl)});\n${script}`,
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit', fd],
      env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'test' },
    },
  );
  onTestFinished(() => void child.kill('SIGKILL'));
  return child as ReturnType<typeof spawn> & { stdout: NodeJS.ReadableStream; stdin: NodeJS.WritableStream };
}

/** Run `script` in a child given `fd` as fd 3, `print(text)` in scope; what it printed, as JSON if it is. */
async function inChild(fd: number, script: string): Promise<unknown> {
  const child = startChild(fd, `const print = (text) => process.stdout.write(text);\n${script}`);
  child.stdin.end();
  const output = (await buffer(child.stdout)).toString();
  try {
    return JSON.parse(output) as unknown;
  } catch {
    return output;
  }
}
