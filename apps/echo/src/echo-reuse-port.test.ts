import { connect, DatagramClient } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it } from 'vitest';
import { echoServerBin as bin, startEchoServer } from './test-support/echo-process.js';

/** echo-server with these flags on 127.0.0.1; killed when the test ends. */
function start(args: readonly string[]): Promise<{ server: ServerProcess; port: number }> {
  return startEchoServer(['--host', '127.0.0.1', ...args]);
}

/** Whether both servers announced a connection from some client (the kernel spreads them). */
function bothServed(servers: readonly ServerProcess[]): boolean {
  return servers.every((server) => server.stdoutLines.some((line) => line.startsWith('Got connection from')));
}

describe('echo-server --reuse-port', () => {
  it('two processes share a TCP port, and the kernel gives connections to both', async () => {
    const first = await start(['--port', '0', '--reuse-port']);
    const second = await start(['--port', String(first.port), '--reuse-port']);
    expect(second.port).toBe(first.port);
    // SO_REUSEPORT hashes each connection's addresses: some of a few hundred reach each server.
    for (let attempt = 0; attempt < 300 && !bothServed([first.server, second.server]); attempt += 1) {
      await using client = await connect('127.0.0.1', first.port);
      await client.sendAll('shared\n');
      expect((await client.readline()).toString()).toBe('shared\n');
    }
    expect(bothServed([first.server, second.server])).toBe(true);
  });

  it('two processes share a UDP port', async () => {
    const first = await start(['--protocol', 'udp', '--port', '0', '--reuse-port']);
    const second = await start(['--protocol', 'udp', '--port', String(first.port), '--reuse-port']);
    for (let attempt = 0; attempt < 300 && !bothServed([first.server, second.server]); attempt += 1) {
      await using client = await DatagramClient.openUDP();
      await client.sendTo('shared\n', ['127.0.0.1', first.port]);
      expect((await client.recvFrom({ timeoutMs: 10_000 }))[0].toString()).toBe('shared\n');
    }
    expect(bothServed([first.server, second.server])).toBe(true);
  });

  it('without it on both, the second process cannot have the port: one line, exit 1', async () => {
    const { port } = await start(['--port', '0', '--reuse-port']);
    await using second = ServerProcess.start(process.execPath, [
      bin,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ]);
    expect((await second.waitForExit()).code).toBe(1);
    expect(second.stderr).toBe(
      `echo-server: cannot listen on 127.0.0.1 port ${port}: address already in use\n`,
    );
  });
});
