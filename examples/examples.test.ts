import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, connectUnix, DatagramClient } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it, onTestFinished } from 'vitest';

const runningLine = /^(Echo|Multithreaded) server running on port (\d+)$/;

/** Each example, run as a user runs it (`node examples/x.ts 0`), through the recipe's session. */
describe.each([
  'echo-raw.ts',
  'echo-stream.ts',
  'echo-threading.ts',
  'echo-pool.ts',
  'echo-socket-options.ts',
  'echo-allow-reuse-address.ts',
])('examples/%s', (file) => {
  it("serves the recipe's client session and leaves on SIGINT with status 1", async () => {
    const server = ServerProcess.start(process.execPath, [
      fileURLToPath(new URL(file, import.meta.url)),
      '0',
    ]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    const [, kind, port] = runningLine.exec(await server.waitForLine(runningLine)) ?? [];

    const ports: number[] = [];
    for (let session = 0; session < 2; session += 1) {
      await using s = await connect('localhost', Number(port));
      ports.push(s.localPort);
      expect(await s.send('Hello\n')).toBe(6);
      const resp = await s.recv(8192);
      expect(`Response: ${JSON.stringify(resp.toString())}`).toBe('Response: "Hello\\n"');
      await s.close();
    }
    await server.waitForLine(`Got connection from ('127.0.0.1', ${ports[1]})`);

    server.kill('SIGINT');
    expect(await server.waitForExit()).toEqual({ code: 1, signal: null });
    expect(server.stdout).toBe(
      [
        `${kind} server running on port ${port}`,
        ...ports.map((p) => `Got connection from ('127.0.0.1', ${p})`),
        '',
        '',
        'Leaving.',
        '',
      ].join('\n'),
    );
    expect(server.stderr).toBe('');
  });
});

describe('examples/echo-udp.ts', () => {
  it('echoes a datagram to its sender, announces it, and leaves on SIGINT with status 1', async () => {
    const server = ServerProcess.start(process.execPath, [
      fileURLToPath(new URL('echo-udp.ts', import.meta.url)),
      '0',
    ]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    const [, , port] = runningLine.exec(await server.waitForLine(runningLine)) ?? [];
    await using s = await DatagramClient.openUDP();
    await s.sendTo('Hello\n', ['127.0.0.1', Number(port)]);
    const [resp, from] = await s.recvFrom();
    expect(resp.toString()).toBe('Hello\n');
    expect(from).toEqual(['127.0.0.1', Number(port)]);
    const [, localPort] = s.address as readonly [string, number];
    await server.waitForLine(`Got connection from ('127.0.0.1', ${localPort})`);
    server.kill('SIGINT');
    expect(await server.waitForExit()).toEqual({ code: 1, signal: null });
    expect(server.stderr).toBe('');
  });
});

describe('examples/echo-unix.ts', () => {
  it('echoes over a Unix socket, announces the unnamed peer as Python does, removes the file on SIGINT', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'examples-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const path = join(directory, 'echo.sock');
    const server = ServerProcess.start(process.execPath, [
      fileURLToPath(new URL('echo-unix.ts', import.meta.url)),
      path,
    ]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    await server.waitForLine(`Echo server running on ${path}`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await using s = await connectUnix(path);
    await s.send('Hello\n');
    expect((await s.recv(8192)).toString()).toBe('Hello\n');
    await server.waitForLine("Got connection from ''");
    server.kill('SIGINT');
    expect(await server.waitForExit()).toEqual({ code: 1, signal: null });
    expect(existsSync(path)).toBe(false);
  });
});
