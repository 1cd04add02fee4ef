import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect, type TestClient } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it, onTestFinished } from 'vitest';

const bin = fileURLToPath(new URL('../bin/echo-server.js', import.meta.url));

/** Start echo-server with metrics on a free port: its port and the metrics URL. */
async function startWithMetrics(
  args: readonly string[],
): Promise<{ server: ServerProcess; port: number; url: string }> {
  const server = ServerProcess.start(process.execPath, [
    bin,
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--quiet',
    ...args,
  ]);
  onTestFinished(() => server[Symbol.asyncDispose]());
  const banner = await server.waitForLine(/running on port \d+$/);
  const metricsLine = await server.waitForLine(/^Metrics on http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  return {
    server,
    port: Number(/\d+$/.exec(banner)?.[0]),
    url: metricsLine.slice('Metrics on '.length),
  };
}

/** One scrape: every `socketserver_` sample, by its name and labels. */
async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^(socketserver_\S+) (\S+)$/.exec(line);
    if (match !== null) samples.set(match[1] ?? '', Number(match[2]));
  }
  return samples;
}

/** Resolves when `socket` closes, however (a reset included); rejects after 5 s. */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the socket did not close within 5 s')), 5000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('echo-server --metrics-port', () => {
  it.each([
    ['async', ['--strategy', 'async']],
    ['a process pool', ['--strategy', 'pool', '--pool-kind', 'process', '--workers', '10']],
  ])('serves Prometheus metrics, scraped during load and after (%s)', async (_name, flags) => {
    const { port, url } = await startWithMetrics(flags);
    const clients: TestClient[] = [];
    const line = 'x'.repeat(99) + '\n';
    for (let index = 0; index < 10; index += 1) {
      const client = await connect('127.0.0.1', port);
      onTestFinished(() => client.destroy());
      clients.push(client);
    }
    // Under load: every client has a line answered and its connection still open.
    for (let round = 0; round < 5; round += 1) {
      await Promise.all(
        clients.map(async (client) => {
          await client.sendAll(line);
          expect((await client.readline()).toString()).toBe(line);
        }),
      );
      const during = await scrape(url);
      expect(during.get('socketserver_requests_active')).toBe(10);
      expect(during.get('socketserver_requests_accepted_total')).toBe(10);
      expect(during.get('socketserver_draining')).toBe(0);
    }
    await Promise.all(clients.map((client) => client.close()));
    // Connections end asynchronously on the server: scrape until they are all counted (bounded).
    let after = await scrape(url);
    for (let attempt = 0; attempt < 100 && after.get('socketserver_requests_active') !== 0; attempt += 1) {
      after = await scrape(url);
    }
    expect(after.get('socketserver_requests_active')).toBe(0);
    expect(after.get('socketserver_received_bytes_total')).toBe(10 * 5 * line.length);
    expect(after.get('socketserver_sent_bytes_total')).toBe(10 * 5 * line.length);
    expect(after.get('socketserver_handler_errors_total')).toBe(0);
    expect(after.get('socketserver_truncated_datagrams_total')).toBe(0);
    expect(after.get('socketserver_worker_restarts_total')).toBe(0);
  });

  it('counts connections refused at --max-connections', async () => {
    const { port, url } = await startWithMetrics(['--max-connections', '1']);
    await using held = await connect('127.0.0.1', port);
    await held.sendAll('held\n');
    await held.readline();
    await using dropped = await connect('127.0.0.1', port);
    await dropped.recvUntilClosed();
    const samples = await scrape(url);
    expect(samples.get('socketserver_requests_refused_total{reason="maxConnections"}')).toBe(1);
    expect(samples.get('socketserver_requests_accepted_total')).toBe(2);
  });

  it('answers 404 off /metrics', async () => {
    const { url } = await startWithMetrics([]);
    const response = await fetch(url.replace('/metrics', '/other'), { signal: AbortSignal.timeout(5000) });
    expect(response.status).toBe(404);
    await response.text();
  });

  it('a half-sent metrics request does not hold SIGTERM: the server exits at once', async () => {
    const { server, url } = await startWithMetrics(['--strategy', 'async']);
    const { port } = new URL(url);
    const stalled = net.connect(Number(port), '127.0.0.1');
    onTestFinished(() => void stalled.destroy());
    stalled.on('error', () => {});
    await once(stalled, 'connect', { signal: AbortSignal.timeout(5000) });
    stalled.write('GET /metr'); // never finished
    // The request reached the server: a scrape on another connection is answered meanwhile.
    await scrape(url);
    const stalledClosed = closed(stalled);
    server.kill('SIGTERM');
    // Well within the 5 s headers timeout: the endpoint closes its connections at once.
    expect((await server.waitForExit({ timeoutMs: 3000 })).code).toBe(0);
    await stalledClosed;
  });

  it('holds at most 16 connections at once; more are closed, and scrapes go on', async () => {
    const { url } = await startWithMetrics(['--strategy', 'async']);
    const { port } = new URL(url);
    const open: net.Socket[] = [];
    const closedEarly: Promise<unknown>[] = [];
    for (let index = 0; index < 20; index += 1) {
      const socket = net.connect(Number(port), '127.0.0.1');
      onTestFinished(() => void socket.destroy());
      socket.on('error', () => {});
      await once(socket, 'connect', { signal: AbortSignal.timeout(5000) });
      socket.write('GET /metr'); // held open, half-sent
      open.push(socket);
      if (index >= 16) closedEarly.push(closed(socket));
    }
    // The four beyond the cap are closed by the server.
    await Promise.all(closedEarly);
    // Freeing one slot lets a scrape through. The client sees its close before the server does:
    // until the server has, a scrape is one too many and is closed (a reset); each try is a round
    // trip, in which the server hears of the close. At most 20 tries.
    const first = open[0] as net.Socket;
    const firstClosed = closed(first);
    first.destroy();
    await firstClosed;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await scrape(url);
        break;
      } catch (error) {
        if (attempt === 20 || (error as { cause?: { code?: unknown } }).cause?.code !== 'ECONNRESET')
          throw error;
      }
    }
  });

  it('a metrics port in use: one line naming it, exit 1', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    onTestFinished(() => void taken.close());
    await once(taken, 'listening', { signal: AbortSignal.timeout(5000) });
    const { port } = taken.address() as net.AddressInfo;
    await using server = ServerProcess.start(process.execPath, [
      bin,
      '--port',
      '0',
      '--metrics-port',
      String(port),
    ]);
    expect((await server.waitForExit()).code).toBe(1);
    expect(server.stdout).toBe('');
    expect(server.stderr).toBe(
      `echo-server: cannot listen on 127.0.0.1 port ${port}: address already in use\n`,
    );
  });

  it.each([['70000'], ['-1'], ['http']])('--metrics-port %s: usage, exit 2', async (value) => {
    await using server = ServerProcess.start(process.execPath, [bin, '--metrics-port', value]);
    expect((await server.waitForExit()).code).toBe(2);
    expect(server.stderr).toMatch(/^error: /);
  });
});
