import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ServerProcess } from '@socketserver/client/server-process';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

const bin = fileURLToPath(new URL('../bin/echo-server.js', import.meta.url));
const runningLine = /^(?:Echo|Multithreaded) server running on (.+)$/;
const openssl = '/usr/bin/openssl';
const run = promisify(execFile);

/**
 * Throw-away certificates, made once for the file in `certificates` (every server runs there, so
 * flags name the files as they are): `cert.pem`/`key.pem` for localhost and 127.0.0.1, the
 * server's; `ca.pem`, a small CA, and `client.pem`/`client-key.pem`, a client certificate it
 * signed; `other-key.pem` (RSA) and `other-ec-key.pem` (EC), keys of no certificate.
 */
let certificates = '';
let cert: Buffer;
let key: Buffer;
let clientCert: Buffer;
let clientKey: Buffer;

const tlsFlags = ['--tls-cert', 'cert.pem', '--tls-key', 'key.pem'] as const;

beforeAll(async () => {
  certificates = mkdtempSync(join(tmpdir(), 'echo-tls-'));
  const inCertificates = { cwd: certificates, timeout: 20_000 };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'];
  await Promise.all([
    run(
      openssl,
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem'],
        ...['-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
      ],
      inCertificates,
    ),
    run(
      openssl,
      ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'other-key.pem'],
      inCertificates,
    ),
    run(
      openssl,
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other-ec-key.pem'],
      inCertificates,
    ),
    run(
      openssl,
      ['req', '-x509', ...ec, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-subj', '/CN=echo test CA'],
      inCertificates,
    ).then(() =>
      run(
        openssl,
        [
          ...['req', '-x509', ...ec, '-keyout', 'client-key.pem', '-out', 'client.pem'],
          ...['-subj', '/CN=echo test client', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem'],
          ...['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=clientAuth'],
        ],
        inCertificates,
      ),
    ),
  ]);
  cert = readFileSync(join(certificates, 'cert.pem'));
  key = readFileSync(join(certificates, 'key.pem'));
  clientCert = readFileSync(join(certificates, 'client.pem'));
  clientKey = readFileSync(join(certificates, 'client-key.pem'));
});

afterAll(() => {
  if (certificates !== '') rmSync(certificates, { recursive: true, force: true });
});

/** Start echo-server with these flags, in the certificates' directory; killed when the test ends. */
async function startEchoServer(args: readonly string[]): Promise<{ server: ServerProcess; where: string }> {
  const server = ServerProcess.start(process.execPath, [bin, ...args], { cwd: certificates });
  onTestFinished(() => server[Symbol.asyncDispose]());
  const line = await server.waitForLine(runningLine);
  return { server, where: runningLine.exec(line)?.[1] ?? '' };
}

function portOf(where: string): number {
  const port = /^port (\d+)$/.exec(where)?.[1];
  if (port === undefined) throw new Error(`not a port: ${where}`);
  return Number(port);
}

/** Run echo-server to its end (a bad flag or file): its output and exit code. */
async function runToExit(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  await using server = ServerProcess.start(process.execPath, [bin, ...args], { cwd: certificates });
  const { code } = await server.waitForExit();
  return { code, stdout: server.stdout, stderr: server.stderr };
}

/** A fresh directory, removed when the test ends. */
function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'echo-tls-unix-'));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** A TLS connection, once its handshake is done (bounded); destroyed when the test ends. */
async function connectTLS(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  const socket = tls.connect(options);
  onTestFinished(() => void socket.destroy());
  await once(socket, 'secureConnect', { signal: AbortSignal.timeout(5000) });
  return socket;
}

/** The bytes read until `byteCount` arrived or the peer ended; rejects on an error or after `timeoutMs`. */
async function receive(
  socket: Readable,
  byteCount = Number.POSITIVE_INFINITY,
  timeoutMs = 10_000,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  const { promise, resolve, reject } = Promise.withResolvers<Buffer>();
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= byteCount) resolve(Buffer.concat(chunks));
  };
  const onEnd = (): void => resolve(Buffer.concat(chunks));
  const timer = setTimeout(
    () => reject(new Error(`${length} of ${byteCount} bytes within ${timeoutMs} ms`)),
    timeoutMs,
  );
  socket.on('data', onData).once('end', onEnd).once('error', reject);
  try {
    return await promise;
  } finally {
    clearTimeout(timer);
    socket.off('data', onData).off('end', onEnd).off('error', reject);
  }
}

/** The bytes a connection got before it was closed, whether by EOF or an error (bounded). */
async function receiveUntilClosed(socket: Readable, timeoutMs = 10_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk)).on('error', () => {});
  // Not events.once: it would reject on the 'error' that may come before 'close'.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  if (!socket.destroyed) await within(closed, timeoutMs, 'close');
  return Buffer.concat(chunks);
}

/** End the connection (close_notify, FIN) and wait until the server has closed its side too. */
async function closeTLS(socket: tls.TLSSocket): Promise<void> {
  const closed = once(socket, 'close', { signal: AbortSignal.timeout(5000) });
  socket.resume().end();
  await closed;
}

/** `promise`, or a rejection naming `what` after `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Exactly one `Error handling request ...: ERR_TLS_HANDSHAKE: ...` line for each of these client ports, in order. */
function expectHandshakeErrors(stderr: string, ports: readonly number[]): void {
  const lines = stderr.split('\n');
  expect(lines.pop()).toBe('');
  expect(lines).toHaveLength(ports.length);
  for (const [index, port] of ports.entries()) {
    expect(lines[index]).toMatch(
      new RegExp(`^Error handling request from \\('127\\.0\\.0\\.1', ${port}\\): ERR_TLS_HANDSHAKE: \\S.*$`),
    );
  }
}

function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
}

const strategies = [
  ['--strategy', 'async'],
  ['--strategy', 'thread'],
  ['--strategy', 'fork'],
  ['--strategy', 'pool', '--workers', '2', '--pool-kind', 'process'],
].map((flags) => ({ name: flags.join(' '), flags }));

describe.each(strategies)('echo-server over TLS, $name', ({ flags }) => {
  const banner = flags.includes('pool') ? 'Multithreaded server' : 'Echo server';

  it('runs the recipe session: Hello echoed, the connection announced, SIGINT leaves with status 1', async () => {
    const { server, where } = await startEchoServer(['--port', '0', ...flags, ...tlsFlags]);
    const port = portOf(where);
    const client = await connectTLS({ host: '127.0.0.1', port, ca: cert });
    const { localPort } = client;
    client.write('Hello\n');
    expect((await receive(client, 6)).toString()).toBe('Hello\n');
    await server.waitForLine(`Got connection from ('127.0.0.1', ${localPort})`);
    await closeTLS(client);
    server.kill('SIGINT');
    expect(await server.waitForExit()).toEqual({ code: 1, signal: null });
    expect(server.stdout).toBe(
      `${banner} running on port ${port}\nGot connection from ('127.0.0.1', ${localPort})\n\n\nLeaving.\n`,
    );
    expect(server.stderr).toBe('');
  });
});

describe('echo-server over TLS', () => {
  it('echoes 1 MiB of random bytes byte-exact', async () => {
    const { where } = await startEchoServer(['--port', '0', '--quiet', ...tlsFlags]);
    const client = await connectTLS({ host: '127.0.0.1', port: portOf(where), ca: cert });
    const payload = randomBytes(1 << 20);
    // Ended once written, so the stream handler also echoes the final unterminated line.
    client.end(payload);
    const received = await receive(client, Number.POSITIVE_INFINITY, 20_000);
    expect(received.length).toBe(payload.length);
    expect(received.equals(payload)).toBe(true);
  });

  it('--max-handshakes-per-source: a pool keeps its other workers from silent peers', async () => {
    const { where } = await startEchoServer([
      ...['--port', '0', '--quiet', '--strategy', 'pool', '--workers', '4', ...tlsFlags],
      ...['--max-handshakes-per-source', '2'],
    ]);
    const port = portOf(where);
    const silentPeer = async (): Promise<net.Socket> => {
      const socket = net.connect(port, '127.0.0.1');
      onTestFinished(() => void socket.destroy());
      socket.on('error', () => {}); // the refused one may see a reset
      await once(socket, 'connect', { signal: AbortSignal.timeout(5000) });
      socket.resume();
      return socket;
    };
    const held = [await silentPeer(), await silentPeer()];
    // The third from this address is closed at once, not after the 10 s handshake timeout.
    const beyond = await silentPeer();
    await once(beyond, 'close', { signal: AbortSignal.timeout(5000) });
    expect(held.every((socket) => !socket.destroyed)).toBe(true);
  });

  it('serves openssl s_client, which checks the certificate', async () => {
    const { server, where } = await startEchoServer(['--port', '0', ...tlsFlags]);
    const client = spawn(
      openssl,
      [
        's_client',
        '-connect',
        `127.0.0.1:${portOf(where)}`,
        '-CAfile',
        'cert.pem',
        '-quiet',
        '-verify_return_error',
      ],
      { cwd: certificates, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const exited = once(client, 'close'); // rejects if openssl cannot be started
    exited.catch(() => {});
    onTestFinished(async () => {
      if (client.exitCode === null && client.signalCode === null) client.kill('SIGKILL');
      await exited.catch(() => {});
    });
    let stderr = '';
    client.stderr.setEncoding('utf8').on('data', (text: string) => void (stderr += text));
    // Kept open until the echo arrives: s_client -quiet would otherwise send nothing more and wait.
    client.stdin.write('Hello\n');
    const echoed = await receive(client.stdout, 6).catch((error: unknown) => {
      throw new Error(`s_client: ${String(error)}; its stderr: ${stderr}`);
    });
    expect(echoed.toString()).toBe('Hello\n');
    await server.waitForLine(/^Got connection from \('127\.0\.0\.1', \d+\)$/);
    client.stdin.end();
    client.kill('SIGTERM');
    await within(exited, 5000, 's_client to exit');
    expect(server.stderr).toBe('');
  });

  // With the process pool, the handshake, and so its failure, happens in a worker process.
  it.each([[['--strategy', 'async']], [['--strategy', 'pool', '--workers', '2', '--pool-kind', 'process']]])(
    '%j: closes a plain-TCP client, reports it in one line, and serves a TLS client after it',
    async (flags) => {
      const { server, where } = await startEchoServer(['--port', '0', ...flags, ...tlsFlags]);
      const port = portOf(where);
      const plain = net.connect({ host: '127.0.0.1', port });
      onTestFinished(() => void plain.destroy());
      await once(plain, 'connect', { signal: AbortSignal.timeout(5000) });
      const plainPort = plain.localPort ?? 0;
      plain.write('Hello\n');
      // Closed, perhaps after a TLS alert, but never echoed.
      expect((await receiveUntilClosed(plain)).toString()).not.toContain('Hello');
      await server.waitForStderr('ERR_TLS_HANDSHAKE');
      expectHandshakeErrors(server.stderr, [plainPort]);
      expectNoStackTrace(server.stderr);
      expect(server.stdout).not.toContain(`('127.0.0.1', ${plainPort})`);

      const client = await connectTLS({ host: '127.0.0.1', port, ca: cert });
      client.write('still here\n');
      expect((await receive(client, 11)).toString()).toBe('still here\n');
      await server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
    },
  );

  it('--tls-request-cert --tls-ca: refuses a client without a certificate, or with one the CA did not sign; serves one it did', async () => {
    const { server, where } = await startEchoServer([
      '--port',
      '0',
      ...tlsFlags,
      '--tls-request-cert',
      '--tls-ca',
      'ca.pem',
    ]);
    const port = portOf(where);
    const refusedPorts: number[] = [];
    for (const credentials of [{}, { cert, key }]) {
      const tcp = net.connect({ host: '127.0.0.1', port });
      onTestFinished(() => void tcp.destroy());
      await once(tcp, 'connect', { signal: AbortSignal.timeout(5000) });
      const localPort = tcp.localPort ?? 0;
      refusedPorts.push(localPort);
      const refused = tls.connect({ socket: tcp, servername: 'localhost', ca: cert, ...credentials });
      onTestFinished(() => void refused.destroy());
      // TLS 1.3: the client finishes its side of the handshake before the server refuses it.
      refused.on('secureConnect', () => refused.write('Hello\n'));
      expect((await receiveUntilClosed(refused)).toString()).toBe('');
      await server.waitForStderr(`('127.0.0.1', ${localPort}): ERR_TLS_HANDSHAKE`);
    }
    expectHandshakeErrors(server.stderr, refusedPorts);

    const client = await connectTLS({ host: '127.0.0.1', port, ca: cert, cert: clientCert, key: clientKey });
    client.write('Hello\n');
    expect((await receive(client, 6)).toString()).toBe('Hello\n');
    await server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
    expect(server.stdoutLines.filter((line) => line.startsWith('Got connection'))).toHaveLength(1);
  });

  it('serves TLS over a --unix socket', async () => {
    const path = join(temporaryDirectory(), 'echo.sock');
    const { server, where } = await startEchoServer(['--unix', path, ...tlsFlags]);
    expect(where).toBe(path);
    const client = await connectTLS({ path, ca: cert, servername: 'localhost' });
    client.write('Hello over TLS\n');
    expect((await receive(client, 15)).toString()).toBe('Hello over TLS\n');
    await server.waitForLine("Got connection from ''");
    await closeTLS(client);
    server.kill('SIGINT');
    expect((await server.waitForExit()).code).toBe(1);
    expect(server.stderr).toBe('');
  });

  it('serves TLS on a socket inherited from systemd (socket activation)', async () => {
    const bound = new net.BoundSocket({ host: '127.0.0.1', port: 0 });
    const { port } = bound.address();
    const server = ServerProcess.start(
      '/bin/sh',
      ['-c', 'LISTEN_PID=$$ exec "$0" "$@"', process.execPath, bin, ...tlsFlags],
      {
        cwd: certificates,
        env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'echo' },
        fds: [bound.fd()],
      },
    );
    onTestFinished(() => server[Symbol.asyncDispose]());
    bound.close(); // the child holds its own copy
    expect(await server.waitForLine(runningLine)).toBe(`Echo server running on port ${port}`);
    const client = await connectTLS({ host: '127.0.0.1', port, ca: cert });
    client.write('Hello\n');
    expect((await receive(client, 6)).toString()).toBe('Hello\n');
    await server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
  });
});

// Each case runs a process that exits at once: run them side by side.
describe('echo-server TLS: bad input', () => {
  it.concurrent.for<[readonly string[], string]>([
    [['--tls-cert', 'cert.pem'], 'option --tls-cert needs --tls-key'],
    [['--tls-key', 'key.pem'], 'option --tls-key needs --tls-cert'],
    [['--tls-cert'], "option '--tls-cert <file>' argument missing"],
    [['--protocol', 'udp', ...tlsFlags], 'TLS applies to stream connections'],
    [['--unix', 'unused.sock', '--protocol', 'udp', ...tlsFlags], 'TLS applies to stream connections'],
    [[...tlsFlags, '--tls-request-cert'], 'option --tls-request-cert needs --tls-ca'],
    [[...tlsFlags, '--tls-ca', 'ca.pem'], 'option --tls-ca applies with --tls-request-cert'],
    [['--tls-ca', 'ca.pem', '--tls-request-cert'], 'option --tls-ca applies to TLS'],
    [['--max-handshakes', '8'], 'option --max-handshakes applies with TLS (--tls-cert) or --proxy-protocol'],
    [['--max-handshakes-per-source', '8'], 'option --max-handshakes-per-source applies with TLS'],
    [
      [...tlsFlags, '--proxy-protocol', 'v1', '--max-handshakes-per-source', '8'],
      'option --max-handshakes-per-source does not apply with --proxy-protocol',
    ],
    [[...tlsFlags, '--max-handshakes', '0'], "option '--max-handshakes <n>' argument '0' is invalid"],
    [
      [...tlsFlags, '--max-handshakes-per-source', 'x'],
      "option '--max-handshakes-per-source <n>' argument 'x'",
    ],
  ])('%j: usage on stderr, exit 2, no stack trace', async ([args, message], { expect }) => {
    // --unix goes without --port; anything else gets a free port, should it not fail as it ought to.
    const { code, stdout, stderr } = await runToExit(
      args.includes('--unix') ? args : ['--port', '0', ...args],
    );
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: /);
    expect(stderr.split('\n')[0]).toContain(message);
    expect(stderr.match(/^error: /gm)).toHaveLength(1);
    expect(stderr).toContain('Usage: echo-server [options]');
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it.concurrent.for<[readonly string[], string]>([
    [
      ['--tls-cert', 'missing.pem', '--tls-key', 'key.pem'],
      'cannot read --tls-cert file missing.pem: no such file or directory',
    ],
    [
      ['--tls-cert', 'cert.pem', '--tls-key', '.'],
      'cannot read --tls-key file .: illegal operation on a directory',
    ],
    [
      [...tlsFlags, '--tls-request-cert', '--tls-ca', 'missing-ca.pem'],
      'cannot read --tls-ca file missing-ca.pem: no such file or directory',
    ],
    [
      ['--tls-cert', 'cert.pem', '--tls-key', 'other-key.pem'],
      'invalid tls: error:05800074:x509 certificate routines::key values mismatch',
    ],
    [
      ['--tls-cert', 'cert.pem', '--tls-key', 'other-ec-key.pem'],
      "invalid tls.key: EC key (expected the private key of tls.cert's RSA certificate)",
    ],
    [['--tls-cert', 'key.pem', '--tls-key', 'key.pem'], 'invalid tls: '],
  ])('%j: one line naming the problem, exit 2, no stack trace', async ([args, message], { expect }) => {
    const { code, stdout, stderr } = await runToExit(['--port', '0', ...args]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^echo-server: [^\n]+\n$/);
    expect(stderr).toContain(message);
  });

  it.concurrent('--help documents the TLS flags', async ({ expect }) => {
    const { code, stdout } = await runToExit(['--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--tls-cert',
      '--tls-key',
      '--tls-ca',
      '--tls-request-cert',
      '--max-handshakes',
      '--max-handshakes-per-source',
    ])
      expect(stdout).toContain(flag);
  });
});
