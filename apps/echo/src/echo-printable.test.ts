import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as proxyProtocol from 'proxy-protocol-js';
import { connect, DatagramClient } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { echoServerBin, runToExit, startEchoServer } from './test-support/echo-process.js';

// A peer picks the path its socket is bound to, or the one a PROXY header names: a newline in it
// would forge a line, and an escape sequence (here: clear the screen) would reach the terminal.
const hostile = 'evil\n\x1b[2J.sock';
/** How echo-server prints it: escaped as Python's repr escapes a str. */
const hostileShown = 'evil\\n\\x1b[2J.sock';

/** A fresh directory for socket files, removed when the test ends. */
function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'echo-'));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** echo-server on a Unix datagram socket at `path`, with these flags; killed when the test ends. */
async function startUnixDatagramEcho(path: string, shownPath: string, flags: readonly string[] = []) {
  const server = ServerProcess.start(process.execPath, [
    echoServerBin,
    '--unix',
    path,
    '--protocol',
    'udp',
    ...flags,
  ]);
  onTestFinished(() => server[Symbol.asyncDispose]());
  // The banner names the server's own path, escaped too: one line.
  await server.waitForLine(`Echo server running on ${shownPath}`);
  return server;
}

/** Stop with SIGTERM (no farewell line) and wait for the end: all it printed is then in. */
async function stop(server: ServerProcess): Promise<void> {
  server.kill('SIGTERM');
  expect(await server.waitForExit()).toEqual({ code: 0, signal: null });
}

describe('echo-server: addresses and paths are printed escaped', () => {
  it('a Unix datagram sender bound to a path with a newline and an escape sequence: one escaped line', async () => {
    const directory = temporaryDirectory();
    const path = join(directory, hostile);
    const shownPath = join(directory, hostileShown);
    const server = await startUnixDatagramEcho(path, shownPath);

    const clientPath = join(directory, `client-${hostile}`);
    await using client = await DatagramClient.openUnix({ path: clientPath });
    await client.sendTo('Hello\n', path);
    const [reply, from] = await client.recvFrom({ timeoutMs: 10_000 });
    expect(reply.toString()).toBe('Hello\n');
    expect(from).toBe(path); // the reply went to the raw path: only printing escapes

    // The path in use, named in ERR_ADDRESS_IN_USE: escaped as well.
    const refused = await runToExit(['--unix', path, '--protocol', 'udp']);
    expect(refused).toEqual({
      code: 1,
      stdout: '',
      stderr: `echo-server: cannot listen on ${shownPath}: address already in use (a live server owns it)\n`,
    });

    await stop(server);
    expect(server.stdout).toBe(
      `Echo server running on ${shownPath}\nGot connection from '${join(directory, `client-${hostileShown}`)}'\n`,
    );
    expect(server.stderr).toBe('');
  });

  it("handleError names such a sender escaped: 'Error handling request from ...' stays one line", async () => {
    const directory = temporaryDirectory();
    const path = join(directory, 'echo.sock');
    const server = await startUnixDatagramEcho(path, path, ['--handler', 'raw', '--max-packet-size', '100']);
    const clientPath = join(directory, hostile);
    await using client = await DatagramClient.openUnix({ path: clientPath });
    await client.sendTo(Buffer.alloc(300, 0x61), path);
    expect((await client.recvFrom({ timeoutMs: 10_000 }))[0]).toHaveLength(100);

    const shown = `'${join(directory, hostileShown)}'`;
    const errorLine = `Error handling request from ${shown}: ERR_DATAGRAM_TRUNCATED: datagram of 300 bytes truncated to maxPacketSize (100 bytes)\n`;
    await server.waitForStderr(errorLine, { timeoutMs: 5000 });
    await stop(server);
    expect(server.stdout).toBe(`Echo server running on ${path}\nGot connection from ${shown}\n`);
    expect(server.stderr).toBe(errorLine);
  });

  it('a PROXY v2 header with an AF_UNIX source holding a newline: the source printed escaped, on one line', async () => {
    const { server, port } = await startEchoServer([
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--proxy-protocol',
      'v2',
    ]);
    const sources: [source: string, shown: string][] = [
      [`/run/${hostile}`, `'/run/${hostileShown}'`],
      // A Linux abstract name is shown as Python shows it, as bytes.
      [`\0${hostile}`, `b'\\x00${hostileShown}'`],
    ];
    for (const [source, shown] of sources) {
      const header = new proxyProtocol.V2ProxyProtocol(
        proxyProtocol.Command.PROXY,
        proxyProtocol.TransportProtocol.STREAM,
        new proxyProtocol.UnixProxyAddress(
          proxyProtocol.UnixAddress.createFrom([...Buffer.from(source)]),
          proxyProtocol.UnixAddress.createFrom([...Buffer.from('/run/echo.sock')]),
        ),
      ).build();
      await using client = await connect('127.0.0.1', port);
      await client.sendAll(Buffer.concat([Buffer.from(header), Buffer.from('Hello\n')]));
      expect((await client.readline({ timeoutMs: 10_000 })).toString()).toBe('Hello\n');
      await server.waitForLine(`Got connection from ${shown}`);
    }
    await stop(server);
    expect(server.stdout).toBe(
      `Echo server running on port ${port}\n${sources.map(([, shown]) => `Got connection from ${shown}\n`).join('')}`,
    );
    expect(server.stderr).toBe('');
  });
});
