import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import * as proxyProtocol from 'proxy-protocol-js';
import { connect, connectUnix, type TestClient } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, type TestContext } from 'vitest';
import { ensureHaproxy, haproxyInstallTimeoutMs } from './test-support/haproxy.js';
import { startHaproxyOnFreePort } from './test-support/haproxy-on-free-port.js';
import { echoServerBin, runToExit, startEchoServer } from './test-support/echo-process.js';

/** One line on stderr for a refused header, naming the peer it came from; never a stack. */
const refusedLine =
  /^Error handling request from \('127\.0\.0\.1', \d+\): ERR_PROXY_PROTOCOL: PROXY protocol: .+$/;

/** echo-server with these flags on 127.0.0.1, port 0; killed when the test ends. */
function startEcho(args: readonly string[]): Promise<{ server: ServerProcess; port: number }> {
  return startEchoServer(['--host', '127.0.0.1', '--port', '0', ...args]);
}

async function openClient(port: number, host = '127.0.0.1'): Promise<TestClient> {
  const client = await connect(host, port);
  onTestFinished(() => client.destroy());
  return client;
}

/** The one stderr line of a refused header, once written; checked against {@link refusedLine}. */
async function refusal(server: ServerProcess): Promise<string> {
  await server.waitForStderr('ERR_PROXY_PROTOCOL');
  const lines = server.stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(refusedLine);
  return lines[0] ?? '';
}

/** Send `bytes`; expect the server to close the connection having sent nothing (a reset counts). */
async function expectClosed(client: TestClient, bytes: Uint8Array): Promise<void> {
  await client.sendAll(bytes);
  const received = await client.recvUntilClosed().then(String, (error: { code?: string }) => error.code);
  expect(received).toMatch(/^(|ERR_CONNECTION_RESET)$/);
}

/** Closed at accept, unread: the send itself may find the connection gone (EPIPE on a Unix socket). */
async function expectRefusedAtAccept(client: TestClient, bytes: Uint8Array): Promise<void> {
  const sent = await client.sendAll(bytes).then(
    () => 'sent',
    (error: { code?: string }) => error.code,
  );
  expect(sent).toMatch(/^(sent|ERR_CONNECTION_RESET)$/);
  const received = await client.recvUntilClosed().then(String, (error: { code?: string }) => error.code);
  expect(received).toMatch(/^(|ERR_CONNECTION_RESET)$/);
}

function v1(host: string, port: number): Buffer {
  const inet = net.isIPv6(host) ? proxyProtocol.INETProtocol.TCP6 : proxyProtocol.INETProtocol.TCP4;
  const destination = new proxyProtocol.Peer(net.isIPv6(host) ? '::1' : '127.0.0.1', 20000);
  return Buffer.from(
    new proxyProtocol.V1ProxyProtocol(inet, new proxyProtocol.Peer(host, port), destination).build(),
  );
}

function v2(
  address: proxyProtocol.IPv4ProxyAddress | proxyProtocol.IPv6ProxyAddress | proxyProtocol.UnixProxyAddress,
  command = proxyProtocol.Command.PROXY,
): Buffer {
  return Buffer.from(
    new proxyProtocol.V2ProxyProtocol(command, proxyProtocol.TransportProtocol.STREAM, address).build(),
  );
}

const documentation = proxyProtocol.IPv4Address.createFrom([192, 0, 2, 1]);

describe('echo-server --proxy-protocol: flags', () => {
  it.each([
    [['--proxy-protocol', 'v3'], /option '--proxy-protocol <version>' argument 'v3' is invalid/],
    [['--proxy-protocol', 'v1', '--proxy-trust', 'proxy.example'], /expected an IP address or range/],
    [['--proxy-protocol', 'v1', '--proxy-trust', '10.0.0.0/33'], /expected an IP address or range/],
    [['--proxy-trust', '10.0.0.1'], /--proxy-trust applies with --proxy-protocol/],
    [['--proxy-protocol', 'v2', '--protocol', 'udp'], /--proxy-protocol applies to stream connections/],
    [['--unix', '@pp-flags', '--proxy-trust-unix'], /--proxy-trust-unix applies with --proxy-protocol/],
    [['--proxy-protocol', 'v1', '--proxy-trust-unix'], /--proxy-trust-unix applies to a --unix socket/],
    [['--proxy-protocol', 'v1', '--no-proxy-trust-unix'], /--no-proxy-trust-unix applies to a --unix socket/],
  ])('%j exits 2 with one usage line, no stack', async (args, message) => {
    const { code, stderr, stdout } = await runToExit(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toMatch(message);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('documents both flags in --help', async () => {
    const { code, stdout } = await runToExit(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/--proxy-protocol <version>/);
    expect(stdout).toMatch(/--proxy-trust <address>/);
    expect(stdout).toMatch(/--proxy-trust-unix/);
    expect(stdout).toMatch(/--no-proxy-trust-unix/);
  });
});

describe('echo-server --proxy-protocol --unix: which Unix peers may send a header', () => {
  /** echo-server on `--unix where` with these flags; killed when the test ends. */
  async function startUnixEcho(where: string, args: readonly string[]): Promise<ServerProcess> {
    const server = ServerProcess.start(process.execPath, [echoServerBin, '--unix', where, ...args]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    await server.waitForLine(/^Echo server running on /);
    return server;
  }

  const abstractName = (): string => `echo-pp-${process.pid}-${Math.random().toString(36).slice(2)}`;

  it.runIf(process.platform === 'linux')(
    'refuses a header from a peer of an abstract name (@name) by default: any local process could claim any client',
    async () => {
      const name = abstractName();
      const server = await startUnixEcho(`@${name}`, ['--proxy-protocol', 'v1']);
      const client = await connectUnix(`\0${name}`);
      onTestFinished(() => client.destroy());
      await expectRefusedAtAccept(client, Buffer.concat([v1('203.0.113.7', 51234), Buffer.from('Hello\n')]));
      await server.waitForStderr('ERR_PROXY_PROTOCOL');
      expect(server.stderr).toMatch(/a Unix peer is not a trusted proxy \(proxyTrustUnix\)/);
      expect(server.stderr.trim().split('\n')).toHaveLength(1);
      expect(server.stdout).not.toMatch(/Got connection/);
    },
  );

  it.runIf(process.platform === 'linux')('takes it with --proxy-trust-unix', async () => {
    const name = abstractName();
    const server = await startUnixEcho(`@${name}`, ['--proxy-protocol', 'v1', '--proxy-trust-unix']);
    const client = await connectUnix(`\0${name}`);
    onTestFinished(() => client.destroy());
    await client.sendAll(Buffer.concat([v1('203.0.113.7', 51234), Buffer.from('Hello\n')]));
    expect((await client.readline()).toString()).toBe('Hello\n');
    await server.waitForLine("Got connection from ('203.0.113.7', 51234)");
  });

  it('takes one on a path by default, and refuses it with --no-proxy-trust-unix', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'echo-pp-trust-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const trusting = await startUnixEcho(join(directory, 'a.sock'), ['--proxy-protocol', 'v1']);
    const client = await connectUnix(join(directory, 'a.sock'));
    onTestFinished(() => client.destroy());
    await client.sendAll(Buffer.concat([v1('203.0.113.7', 51234), Buffer.from('Hello\n')]));
    expect((await client.readline()).toString()).toBe('Hello\n');
    await trusting.waitForLine("Got connection from ('203.0.113.7', 51234)");

    const refusing = await startUnixEcho(join(directory, 'b.sock'), [
      '--proxy-protocol',
      'v1',
      '--no-proxy-trust-unix',
    ]);
    const refused = await connectUnix(join(directory, 'b.sock'));
    onTestFinished(() => refused.destroy());
    await expectRefusedAtAccept(refused, Buffer.concat([v1('203.0.113.7', 51234), Buffer.from('Hello\n')]));
    await refusing.waitForStderr('ERR_PROXY_PROTOCOL');
    expect(refusing.stderr).toMatch(/a Unix peer is not a trusted proxy/);
  });
});

describe('echo-server --proxy-protocol: hand-made headers', () => {
  it('prints the original client of v1 and v2 headers (IPv4, IPv6, Unix) and echoes what follows', async () => {
    const { server, port } = await startEcho(['--proxy-protocol', 'any']);
    const cases: [Buffer, string][] = [
      [v1('203.0.113.7', 51234), "('203.0.113.7', 51234)"],
      [v1('2001:db8::7', 4242), "('2001:db8::7', 4242, 0, 0)"],
      [
        v2(
          new proxyProtocol.IPv4ProxyAddress(
            proxyProtocol.IPv4Address.createFrom([198, 51, 100, 9]),
            9999,
            documentation,
            20000,
          ),
        ),
        "('198.51.100.9', 9999)",
      ],
      [
        v2(
          new proxyProtocol.IPv6ProxyAddress(
            proxyProtocol.IPv6Address.createFrom([
              0x20,
              0x01,
              0x0d,
              0xb8,
              ...Array<number>(11).fill(0),
              0x42,
            ]),
            443,
            proxyProtocol.IPv6Address.createFrom([...Array<number>(15).fill(0), 1]),
            20000,
          ),
        ),
        "('2001:db8::42', 443, 0, 0)",
      ],
      [
        v2(
          new proxyProtocol.UnixProxyAddress(
            proxyProtocol.UnixAddress.createFrom([...Buffer.from('/run/client.sock')]),
            proxyProtocol.UnixAddress.createFrom([...Buffer.from('/run/echo.sock')]),
          ),
        ),
        "'/run/client.sock'",
      ],
    ];
    for (const [header, printed] of cases) {
      const client = await openClient(port);
      await client.sendAll(Buffer.concat([header, Buffer.from('Hello\n')]));
      expect((await client.readline()).toString()).toBe('Hello\n');
      await server.waitForLine(`Got connection from ${printed}`);
      await client.close();
    }
    // A LOCAL header (a health check) is the proxy speaking for itself: its own address is printed.
    const check = await openClient(port);
    await check.sendAll(
      v2(new proxyProtocol.IPv4ProxyAddress(documentation, 1, documentation, 2), proxyProtocol.Command.LOCAL),
    );
    await server.waitForLine(`Got connection from ('127.0.0.1', ${check.localPort})`);
    expect(server.stderr).toBe('');
  });

  it.each([
    ['no header', Buffer.from('Hello\n')],
    ['a malformed v1 line', Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 51234\r\nHello\n')],
    ['a v1 line over 107 bytes', Buffer.from(`PROXY TCP6 ${'f'.repeat(150)}\r\n`)],
    ['a v2 header with an unknown family', Buffer.from('0d0a0d0a000d0a515549540a2151000c', 'hex')],
    ['a v2 header longer than 4096 bytes', Buffer.from('0d0a0d0a000d0a515549540a21110ff1', 'hex')],
  ])(
    'closes a connection with %s: one line on stderr, nothing echoed, and serves on',
    async (_name, bytes) => {
      const { server, port } = await startEcho([
        '--proxy-protocol',
        'any',
        '--strategy',
        'pool',
        '--workers',
        '2',
      ]);
      const client = await openClient(port);
      await expectClosed(client, bytes);
      expect(await refusal(server)).toMatch(`('127.0.0.1', ${client.localPort})`);
      expect(server.stdout).not.toMatch(/Got connection/);
      const next = await openClient(port);
      await next.sendAll(Buffer.concat([v1('192.0.2.44', 4444), Buffer.from('after\n')]));
      expect((await next.readline()).toString()).toBe('after\n');
      await server.waitForLine("Got connection from ('192.0.2.44', 4444)");
    },
  );

  it('closes a connection cut halfway through its header (truncated)', async () => {
    const { server, port } = await startEcho(['--proxy-protocol', 'v1']);
    const client = await openClient(port);
    await client.sendAll('PROXY TCP4 203.0.113.7 ');
    await client.shutdownWrite();
    await client.waitForClose();
    expect(await refusal(server)).toMatch(/ended after 23 bytes, before the end of the header/);
  });

  it('closes a connection from a peer that --proxy-trust does not name, header or not', async () => {
    const { server, port } = await startEcho([
      '--proxy-protocol',
      'any',
      '--proxy-trust',
      '192.0.2.0/24',
      '--proxy-trust',
      'fd00::/8',
    ]);
    const client = await openClient(port);
    await expectRefusedAtAccept(client, Buffer.concat([v1('203.0.113.7', 51234), Buffer.from('Hello\n')]));
    expect(await refusal(server)).toMatch(/127\.0\.0\.1 is not a trusted proxy/);
    expect(server.stdout).not.toMatch(/Got connection/);
  });
});

// ---- behind a real HAProxy ----

let haproxyMissing: string | undefined;
let certificates = '';

beforeAll(async () => {
  const found = await ensureHaproxy();
  if ('missing' in found) {
    haproxyMissing = found.missing;
    console.log(`echo-proxy-protocol: the HAProxy tests are skipped: ${found.missing}`);
  }
  certificates = mkdtempSync(join(tmpdir(), 'echo-proxy-tls-'));
  await promisify(execFile)(
    '/usr/bin/openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { cwd: certificates, timeout: 20_000 },
  );
}, haproxyInstallTimeoutMs + 30_000);

afterAll(() => {
  if (certificates !== '') rmSync(certificates, { recursive: true, force: true });
});

function requireHaproxy(context: TestContext): void {
  if (haproxyMissing !== undefined) {
    console.log(`skipped, no HAProxy: ${haproxyMissing}`);
    context.skip();
  }
}

/** An HAProxy config: a TCP frontend on `bind`, one server `echo` at 127.0.0.1:`echoPort` with `serverOptions`. */
function haproxyConfig(bind: string, echoPort: number, serverOptions: string): string {
  return [
    'global',
    '    maxconn 256',
    'defaults',
    '    mode tcp',
    '    timeout connect 5s',
    '    timeout client 30s',
    '    timeout server 30s',
    // One connection to echo per client: a refused one is not tried again (HAProxy retries an
    // early close under load, which would write a second refusal line).
    '    retries 0',
    'frontend clients',
    `    bind ${bind}`,
    '    default_backend echoes',
    'backend echoes',
    `    server echo 127.0.0.1:${echoPort} ${serverOptions}`,
    '',
  ].join('\n');
}

describe('echo-server --proxy-protocol behind a real HAProxy', () => {
  it.for([
    ['send-proxy', 'v1', []],
    ['send-proxy-v2', 'v2', []],
    [
      'send-proxy-v2 proxy-v2-options crc32c',
      'v2',
      ['--strategy', 'pool', '--pool-kind', 'process', '--workers', '2'],
    ],
    ['send-proxy-v2', 'any', ['--strategy', 'thread']],
  ] as const)(
    '%s to --proxy-protocol %s %j: the client itself is printed, not HAProxy',
    async ([options, version, flags], context) => {
      requireHaproxy(context);
      const echo = await startEcho(['--proxy-protocol', version, ...flags]);
      const { frontendPort } = await startHaproxyOnFreePort((port) =>
        haproxyConfig(`127.0.0.1:${port}`, echo.port, options),
      );
      for (let round = 0; round < 3; round += 1) {
        const client = await openClient(frontendPort);
        await client.sendAll('Hello\n');
        expect((await client.readline()).toString()).toBe('Hello\n');
        await echo.server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
        await client.close();
      }
      expect(echo.server.stderr).toBe('');
    },
  );

  it('carries an IPv6 client (HAProxy on ::1) in a v2 header', async (context) => {
    requireHaproxy(context);
    const echo = await startEcho(['--proxy-protocol', 'v2']);
    const { frontendPort } = await startHaproxyOnFreePort(
      (port) => haproxyConfig(`[::1]:${port}`, echo.port, 'send-proxy-v2'),
      '::1',
    );
    const client = await openClient(frontendPort, '::1');
    await client.sendAll('Hello\n');
    expect((await client.readline()).toString()).toBe('Hello\n');
    await echo.server.waitForLine(`Got connection from ('::1', ${client.localPort}, 0, 0)`);
  });

  it('carries a Unix-socket client of HAProxy: the header has no IP for it, so the proxy itself is printed', async (context) => {
    requireHaproxy(context);
    const echo = await startEcho(['--proxy-protocol', 'any']);
    const directory = mkdtempSync(join(tmpdir(), 'echo-proxy-unix-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const path = join(directory, 'frontend.sock');
    await startHaproxyOnFreePort(() => haproxyConfig(`unix@${path}`, echo.port, 'send-proxy-v2'));
    const client = await connectUnix(path);
    onTestFinished(() => client.destroy());
    await client.sendAll('Hello\n');
    expect((await client.readline()).toString()).toBe('Hello\n');
    // HAProxy 2.6 sends AF_UNSPEC (v2) for a Unix client: the connection's own peer, HAProxy, is the client.
    await echo.server.waitForLine(/^Got connection from (\('127\.0\.0\.1', \d+\)|'.*')$/);
    expect(echo.server.stderr).toBe('');
  });

  it('reads the header before TLS: HAProxy passes TLS through, the server terminates it', async (context) => {
    requireHaproxy(context);
    const echo = await startEcho([
      '--proxy-protocol',
      'v2',
      '--tls-cert',
      join(certificates, 'cert.pem'),
      '--tls-key',
      join(certificates, 'key.pem'),
      '--strategy',
      'pool',
      '--workers',
      '2',
    ]);
    const { frontendPort } = await startHaproxyOnFreePort((port) =>
      haproxyConfig(`127.0.0.1:${port}`, echo.port, 'send-proxy-v2'),
    );
    const secure = tls.connect({
      host: '127.0.0.1',
      port: frontendPort,
      rejectUnauthorized: false,
      servername: 'localhost',
    });
    onTestFinished(() => void secure.destroy());
    await once(secure, 'secureConnect', { signal: AbortSignal.timeout(10_000) });
    secure.write('Hello\n');
    const [answer] = (await once(secure, 'data', { signal: AbortSignal.timeout(10_000) })) as [Buffer];
    expect(answer.toString()).toBe('Hello\n');
    await echo.server.waitForLine(`Got connection from ('127.0.0.1', ${secure.localPort})`);
  });

  it('refuses a v1 header from HAProxy when the server expects v2: one line, the client closed', async (context) => {
    requireHaproxy(context);
    const echo = await startEcho(['--proxy-protocol', 'v2']);
    const { frontendPort } = await startHaproxyOnFreePort((port) =>
      haproxyConfig(`127.0.0.1:${port}`, echo.port, 'send-proxy'),
    );
    const client = await openClient(frontendPort);
    await expectClosed(client, Buffer.from('Hello\n'));
    expect(await refusal(echo.server)).toMatch(/expected a v2 header, got "PROXY TCP4 127\.0/);
    expect(echo.server.stdout).not.toMatch(/Got connection/);
  });

  it('refuses HAProxy when --proxy-trust does not name it', async (context) => {
    requireHaproxy(context);
    const echo = await startEcho(['--proxy-protocol', 'v2', '--proxy-trust', '10.0.0.0/8']);
    const { frontendPort } = await startHaproxyOnFreePort((port) =>
      haproxyConfig(`127.0.0.1:${port}`, echo.port, 'send-proxy-v2'),
    );
    const client = await openClient(frontendPort);
    await expectClosed(client, Buffer.from('Hello\n'));
    expect(await refusal(echo.server)).toMatch(/not a trusted proxy/);
  });
});
