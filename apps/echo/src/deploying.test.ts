// Every config of docs/deploy, run: the systemd units under systemd-socket-activate (and checked
// with systemd-analyze verify), the Kubernetes manifest's container through a SIGTERM drain (and
// decoded with yaml, and offline with kubectl where it is installed), the HAProxy config in front of two echo-servers with PROXY v2.
// The guide that explains them is docs/deploying.md.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, DatagramClient } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ensureHaproxy, haproxyInstallTimeoutMs, type HaproxyAvailability } from './test-support/haproxy.js';
import { freePort, startHaproxyOnFreePort } from './test-support/haproxy-on-free-port.js';
import { waitUntilRefused } from './test-support/wait-until-refused.js';
import { echoServerBin as bin, startEchoServer } from './test-support/echo-process.js';

const deployDirectory = fileURLToPath(new URL('../../../docs/deploy/', import.meta.url));
const runningLine = /^Echo server running on port (\d+)$/;

function readDeployFile(name: string): string {
  return readFileSync(join(deployDirectory, name), 'utf8');
}

describe('docs/deploy: systemd socket activation (socketserver-echo.socket, socketserver-echo.service)', () => {
  const socketUnit = readDeployFile('socketserver-echo.socket');
  const serviceUnit = readDeployFile('socketserver-echo.service');
  const execStart = parseExecStart(unitValue(serviceUnit, 'Service', 'ExecStart'));
  const timeoutStopMs = timeSpanMs(unitValue(serviceUnit, 'Service', 'TimeoutStopSec'));

  it('is a notify service, started by its socket, that outwaits its own drain before SIGKILL', () => {
    expect(unitValues(socketUnit, 'Socket', 'Accept')).not.toContain('yes');
    expect(unitValue(serviceUnit, 'Unit', 'Requires')).toBe('socketserver-echo.socket');
    expect(unitValue(serviceUnit, 'Service', 'Type')).toBe('notify');
    expect(unitValue(serviceUnit, 'Service', 'KillSignal')).toBe('SIGTERM');
    // Only echo-server is signalled: it stops its own workers (apps/echo/README.md).
    expect(unitValue(serviceUnit, 'Service', 'KillMode')).toBe('mixed');
    const drainTimeoutMs = Number(flagValue(execStart.args, '--drain-timeout'));
    expect(drainTimeoutMs).toBeGreaterThan(0);
    // A second to spare at least, for the last writes and the process's own exit.
    expect(timeoutStopMs).toBeGreaterThanOrEqual(drainTimeoutMs + 1000);
  });

  it('sets the limits a public-facing server needs: an idle timeout, and a connection cap under LimitNOFILE=', () => {
    expect(Number(flagValue(execStart.args, '--idle-timeout'))).toBeGreaterThan(0);
    const maxConnections = Number(flagValue(execStart.args, '--max-connections'));
    expect(maxConnections).toBeGreaterThan(0);
    // Room for the process's own descriptors and a pool's workers beside the connections.
    expect(Number(unitValue(serviceUnit, 'Service', 'LimitNOFILE'))).toBeGreaterThanOrEqual(
      2 * maxConnections,
    );
  });

  it('passes systemd-analyze verify, and its hardening keeps the offline exposure at most 4.0', async (context) => {
    // systemd-analyze verify loads the units into a manager of its own, with no systemd running
    // (it works in a container); where it cannot (no systemd-analyze, or an environment where even
    // a one-line service fails to load), only this check is skipped, with the reason printed.
    const directory = temporaryDirectory('deploying-systemd-');
    const unavailable = await systemdAnalyzeUnavailable(directory);
    if (unavailable !== undefined) {
      console.log(`skipped systemd-analyze verify: ${unavailable}`);
      context.skip(unavailable);
    }
    // The echo-server of ExecStart= is where npm installs it; here it is node and the repo's bin.
    for (const path of [process.execPath, bin]) expect(path).not.toMatch(/\s/);
    const socketFile = join(directory, 'socketserver-echo.socket');
    const serviceFile = join(directory, 'socketserver-echo.service');
    writeFileSync(socketFile, socketUnit);
    writeFileSync(
      serviceFile,
      serviceUnit.replace(execStart.line, [process.execPath, bin, ...execStart.args].join(' ')),
    );
    const verify = await run('systemd-analyze', ['verify', '--man=no', socketFile, serviceFile]);
    // A warning (an unknown key, a bad value) is printed without failing the exit code: none allowed.
    expect({ code: verify.code, output: verify.output }).toEqual({ code: 0, output: '' });
    const security = await run('systemd-analyze', [
      'security',
      '--offline=yes',
      '--threshold=40',
      serviceFile,
    ]);
    expect(security.code, security.output).toBe(0);
  });

  it('runs as the units say under systemd-socket-activate: READY=1, echoes, STOPPING=1 and exit 0 on SIGTERM within TimeoutStopSec', async (context) => {
    if (!hasCommand('systemd-socket-activate')) {
      console.log('skipped: systemd-socket-activate is not installed');
      context.skip('systemd-socket-activate is not installed');
    }
    const listenStream = unitValue(socketUnit, 'Socket', 'ListenStream');
    expect(listenStream).toMatch(/^(?:\S+:)?\d+$/); // a TCP port, alone or with an address
    await using manager = await DatagramClient.openUnix();
    const { server, port } = await startSocketActivated([
      `--fdname=${unitValue(socketUnit, 'Socket', 'FileDescriptorName')}`,
      `--setenv=NOTIFY_SOCKET=${manager.address as string}`,
      process.execPath,
      bin,
      ...execStart.args,
    ]);

    // The first connection starts echo-server on the socket it was queued on.
    const client = await connect('127.0.0.1', port);
    await client.sendAll('Hello\n');
    expect((await client.readline({ timeoutMs: 20_000 })).toString()).toBe('Hello\n');
    expect((await manager.recvFrom({ timeoutMs: 10_000 }))[0].toString()).toBe('READY=1');
    expect(await server.waitForLine(runningLine)).toBe(`Echo server running on port ${port}`);
    await server.waitForLine(`Got connection from ('127.0.0.1', ${client.localPort})`);
    await client.close();

    server.kill('SIGTERM');
    expect((await manager.recvFrom({ timeoutMs: 10_000 }))[0].toString()).toBe('STOPPING=1');
    expect(await server.waitForExit({ timeoutMs: timeoutStopMs })).toEqual({ code: 0, signal: null });
  });
});

describe('docs/deploy/kubernetes.yaml: preStop, the drain and terminationGracePeriodSeconds', () => {
  let manifest: KubernetesManifest;
  beforeAll(() => {
    manifest = decodeManifest(readDeployFile('kubernetes.yaml'));
  });

  it('decodes the same with kubectl (its own YAML reader, offline), where kubectl is installed', async (context) => {
    // kubectl without a cluster can neither fetch the API schema (validation) nor map kinds
    // (apply/create --dry-run=client ask the server), but `patch --local` decodes the manifest
    // offline and prints each object as JSON.
    if (!hasCommand('kubectl', ['version', '--client'])) {
      console.log('skipped: kubectl is not installed (the manifest is still decoded with yaml)');
      context.skip();
    }
    const file = join(deployDirectory, 'kubernetes.yaml');
    const { code, output, stdout } = await run('kubectl', [
      ...['patch', '--local', '-f', file, '--type', 'merge', '-p', '{}', '-o', 'json'],
    ]);
    expect(code, output).toBe(0);
    // One pretty-printed JSON object per document; a new one starts with `{` at a line's start.
    const objects = stdout.split(/\n(?=\{)/).map((text) => JSON.parse(text) as unknown);
    expect(objects).toEqual(manifest.objects);
  });

  it('its numbers fit: terminationGracePeriodSeconds > preStop sleep + --drain-timeout; probes and Service on the port', () => {
    const { deployment, service, container, timing } = manifest;
    expect(timing.drainTimeoutMs).toBeGreaterThan(0);
    expect(timing.preStopSleepMs).toBeGreaterThan(0);
    // A second to spare at least, for the last writes and the process's own exit.
    expect(timing.gracePeriodMs).toBeGreaterThanOrEqual(timing.preStopSleepMs + timing.drainTimeoutMs + 1000);

    expect(container.command).toEqual(['echo-server']);
    const port = Number(flagValue(container.args ?? [], '--port'));
    const [containerPort] = container.ports ?? [];
    expect(containerPort?.containerPort).toBe(port);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect([containerPort?.name, port]).toContain(probe?.tcpSocket?.port);
    }
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect([containerPort?.name, port]).toContain(service.spec.ports[0]?.targetPort);
  });

  it('sets the limits a public-facing server needs: an idle timeout and a connection cap', () => {
    const args = manifest.container.args ?? [];
    expect(Number(flagValue(args, '--idle-timeout'))).toBeGreaterThan(0);
    expect(Number(flagValue(args, '--max-connections'))).toBeGreaterThan(0);
  });

  it("the container's args drain as promised: after SIGTERM a new connection is refused, an open one finishes its line, exit 0 within the grace period", async () => {
    const { container, timing } = manifest;
    const { server, port } = await startEchoServer(loopbackEphemeral(container.args ?? []));
    const client = await connect('127.0.0.1', port);
    onTestFinished(() => client.destroy());
    await client.sendAll('one\n');
    expect((await client.readline()).toString()).toBe('one\n');
    await client.sendAll('tw'); // mid-line when the signal comes

    // Kubernetes sends SIGTERM once the preStop sleep is over; SIGKILL follows at the grace period.
    const signalledAt = Date.now();
    server.kill('SIGTERM');
    await waitUntilRefused(port);
    await client.sendAll('o\n');
    expect((await client.readline()).toString()).toBe('two\n');
    await client.close();
    const budgetMs = timing.gracePeriodMs - timing.preStopSleepMs - (Date.now() - signalledAt);
    expect(await server.waitForExit({ timeoutMs: budgetMs })).toEqual({ code: 0, signal: null });
    expect(server.stderr).toBe('');
  });

  it(
    'a connection that never finishes its line is closed at --drain-timeout, and the exit still comes within the grace period',
    { timeout: 60_000 },
    async () => {
      const { container, timing } = manifest;
      const { server, port } = await startEchoServer(loopbackEphemeral(container.args ?? []));
      const client = await connect('127.0.0.1', port);
      onTestFinished(() => client.destroy());
      await client.sendAll('one\n');
      expect((await client.readline()).toString()).toBe('one\n');
      await client.sendAll('never finished');

      const signalledAt = Date.now();
      server.kill('SIGTERM');
      const budgetMs = timing.gracePeriodMs - timing.preStopSleepMs;
      await client.waitForClose({ timeoutMs: budgetMs });
      // Not before the drain: the connection had the whole --drain-timeout to finish.
      expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(timing.drainTimeoutMs - 50);
      const exit = await server.waitForExit({ timeoutMs: budgetMs - (Date.now() - signalledAt) });
      expect(exit).toEqual({ code: 0, signal: null });
    },
  );
});

describe('docs/deploy/haproxy.cfg: HAProxy in front of two echo-servers, PROXY protocol v2', () => {
  let haproxy: HaproxyAvailability = { missing: 'not looked for yet' };
  beforeAll(async () => {
    haproxy = await ensureHaproxy();
  }, haproxyInstallTimeoutMs + 10_000);

  it("HAProxy's health checks pass on both servers, and a client's line is echoed through it with the client's own address", async (context) => {
    if ('missing' in haproxy) {
      console.log(`skipped HAProxy: ${haproxy.missing}`);
      context.skip(haproxy.missing);
    }
    const config = readDeployFile('haproxy.cfg');
    // The config's comment gives each echo-server's command line; run them on free loopback ports.
    const commands = [...config.matchAll(/^#\s+echo-server (.+)$/gm)].map(([, args = '']) =>
      args.split(/\s+/),
    );
    expect(commands).toHaveLength(2);
    const echoes = await Promise.all(commands.map((args) => startEchoServer(loopbackEphemeral(args))));
    const [first, second] = echoes;
    if (first === undefined || second === undefined) throw new Error('two echo-servers expected');

    const { proxy, frontendPort } = await startHaproxyOnFreePort((frontend) =>
      replaceEach(config, {
        'bind :20000': `bind 127.0.0.1:${frontend}`,
        '127.0.0.1:20001': `127.0.0.1:${first.port}`,
        '127.0.0.1:20002': `127.0.0.1:${second.port}`,
      }),
    );

    // Both servers pass a check (option log-health-checks logs the first pass of each) and are UP.
    const backend = /^backend (\S+)$/m.exec(config)?.[1] ?? '';
    const serverNames = [...config.matchAll(/^\s*server (\S+) /gm)].map(([, name = '']) => name);
    expect(serverNames).toHaveLength(2);
    for (const name of serverNames) {
      await proxy.process.waitForLine(
        new RegExp(`^Health check for server ${escapeRegExp(`${backend}/${name}`)} succeeded`),
      );
    }
    const stats = await proxy.showStat();
    for (const name of serverNames) {
      expect(stats.find((row) => row['pxname'] === backend && row['svname'] === name)?.['status']).toBe('UP');
    }
    // A check arrives with a PROXY v2 header of the LOCAL command: the real peer, HAProxy, is printed.
    for (const echo of echoes) await echo.server.waitForLine(/^Got connection from \('127\.0\.0\.1', \d+\)$/);

    const client = await connect('127.0.0.1', frontendPort);
    onTestFinished(() => client.destroy());
    await client.sendAll('Hello\n');
    expect((await client.readline()).toString()).toBe('Hello\n');
    // The PROXY header carried the client's own address and port, not HAProxy's outgoing one.
    const clientLine = `Got connection from ('127.0.0.1', ${client.localPort})`;
    await Promise.any(echoes.map(({ server }) => server.waitForLine(clientLine)));
    await client.close();
    // Health checks are normal operation: no error line for them (HAProxy resets each one it ends).
    for (const { server } of echoes) expect(server.stderr).toBe('');
  });
});

// ---- systemd unit files ----

/** The values of `key` in `[section]` of a systemd unit file, in order (no line continuations). */
function unitValues(text: string, section: string, key: string): string[] {
  let current = '';
  const values: string[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.endsWith('\\')) throw new Error(`a continued line, not read here: ${line}`);
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      current = header[1] ?? '';
      continue;
    }
    const equals = line.indexOf('=');
    if (current === section && equals > 0 && line.slice(0, equals).trim() === key) {
      values.push(line.slice(equals + 1).trim());
    }
  }
  return values;
}

/** The one value of `key` in `[section]`. */
function unitValue(text: string, section: string, key: string): string {
  const values = unitValues(text, section, key);
  const [value] = values;
  if (values.length !== 1 || value === undefined) {
    throw new Error(`expected one ${key}= in [${section}], found ${values.length}`);
  }
  return value;
}

/** ExecStart= of echo-server: its line as written, and the arguments after the executable. */
function parseExecStart(line: string): { line: string; args: string[] } {
  // Quotes, specifiers (%), variables ($) or escapes would need systemd's own splitting.
  if (/["'%$\\]/.test(line)) throw new Error(`ExecStart= needs systemd's splitting: ${line}`);
  const [executable = '', ...args] = line.split(/\s+/);
  if (!isAbsolute(executable) || basename(executable) !== 'echo-server') {
    throw new Error(`ExecStart= should run echo-server by its absolute path: ${line}`);
  }
  return { line, args };
}

/** A systemd time span in seconds (`15`, `15s`, `15sec`), in ms. */
function timeSpanMs(value: string): number {
  const seconds = /^(\d+)\s*(?:s|sec)?$/.exec(value)?.[1];
  if (seconds === undefined) throw new Error(`not a time span in seconds: ${value}`);
  return Number(seconds) * 1000;
}

/**
 * Why systemd-analyze verify cannot run here, or `undefined`: it is missing, or even a one-line
 * service fails to verify (no manager can be set up in this environment).
 */
async function systemdAnalyzeUnavailable(directory: string): Promise<string | undefined> {
  if (!hasCommand('systemd-analyze')) return 'systemd-analyze is not installed';
  const probe = join(directory, 'deploying-probe.service');
  writeFileSync(probe, `[Service]\nType=oneshot\nExecStart=${process.execPath} --version\n`);
  const { code, output } = await run('systemd-analyze', ['verify', '--man=no', probe]);
  return code === 0 && output === ''
    ? undefined
    : `systemd-analyze verify fails on a minimal service here (exit ${code}): ${output.trim()}`;
}

/**
 * systemd-socket-activate listening on a free loopback port, as the socket unit would: echo-server
 * starts on the first connection. A port taken between the probe and its bind: another one.
 */
async function startSocketActivated(
  args: readonly string[],
): Promise<{ server: ServerProcess; port: number }> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const server = ServerProcess.start('systemd-socket-activate', ['--listen', `127.0.0.1:${port}`, ...args]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    try {
      await server.waitForStderr(`Listening on 127.0.0.1:${port}`);
      return { server, port };
    } catch (error) {
      if (attempt === 3 || server.isRunning) throw error;
    }
  }
}

// ---- Kubernetes ----

interface KubernetesManifest {
  /** Every document, as decoded. */
  objects: unknown[];
  deployment: Deployment;
  service: Service;
  container: Container;
  timing: { gracePeriodMs: number; preStopSleepMs: number; drainTimeoutMs: number };
}

interface Deployment {
  kind: 'Deployment';
  spec: {
    template: {
      metadata: { labels: Record<string, string> };
      spec: { terminationGracePeriodSeconds?: number; containers: Container[] };
    };
  };
}

interface Service {
  kind: 'Service';
  spec: { selector: Record<string, string>; ports: { port: number; targetPort: number | string }[] };
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } };
  readinessProbe?: { tcpSocket?: { port: number | string } };
  livenessProbe?: { tcpSocket?: { port: number | string } };
}

/** Decode the manifest (every YAML document); its objects, Deployment, Service, container and timings. */
function decodeManifest(text: string): KubernetesManifest {
  const objects = parseAllDocuments(text).map((document) => {
    if (document.errors.length > 0) throw new Error(`kubernetes.yaml: ${document.errors.join('; ')}`);
    return document.toJS() as { kind: string };
  });
  const deployment = objects.find((object): object is Deployment => object.kind === 'Deployment');
  const service = objects.find((object): object is Service => object.kind === 'Service');
  if (deployment === undefined || service === undefined) {
    throw new Error(
      `expected a Deployment and a Service, found ${objects.map(({ kind }) => kind).join(', ')}`,
    );
  }
  const { containers, terminationGracePeriodSeconds = 30 } = deployment.spec.template.spec;
  const [container] = containers;
  if (container === undefined || containers.length !== 1) throw new Error('expected one container');
  const preStop = container.lifecycle?.preStop;
  const preStopSeconds =
    preStop?.sleep?.seconds ?? (preStop?.exec?.command[0] === 'sleep' ? Number(preStop.exec.command[1]) : 0);
  return {
    objects,
    deployment,
    service,
    container,
    timing: {
      gracePeriodMs: terminationGracePeriodSeconds * 1000,
      preStopSleepMs: preStopSeconds * 1000,
      drainTimeoutMs: Number(flagValue(container.args ?? [], '--drain-timeout')),
    },
  };
}

// ---- HAProxy ----

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `text` with each key replaced by its value; each key must occur exactly once. */
function replaceEach(text: string, replacements: Record<string, string>): string {
  let result = text;
  for (const [from, to] of Object.entries(replacements)) {
    const occurrences = result.split(from).length - 1;
    if (occurrences !== 1)
      throw new Error(`expected ${JSON.stringify(from)} once in the config, found ${occurrences}`);
    result = result.replace(from, to);
  }
  return result;
}

// ---- echo-server and the network ----

/** A deployment's echo-server flags for a test: on 127.0.0.1 (not every interface), port 0. */
function loopbackEphemeral(args: readonly string[]): string[] {
  expect(args).not.toContain('--host');
  expect(args).toContain('--port');
  const result = [...args];
  result[result.indexOf('--port') + 1] = '0';
  return [...result, '--host', '127.0.0.1'];
}

/** The value after `flag` in an argument list (given once). */
function flagValue(args: readonly string[], flag: string): string {
  const index = args.indexOf(flag);
  const value = args[index + 1];
  if (index === -1 || value === undefined || args.lastIndexOf(flag) !== index) {
    throw new Error(`expected ${flag} with a value once in ${args.join(' ')}`);
  }
  return value;
}

// ---- processes and files ----

/** Run a command to its end (bounded); exit code, stdout, and stdout with stderr. */
async function run(
  command: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 20_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, output: `${stdout}${stderr}` });
    });
  });
}

/** Whether `command` runs here: asking it its version succeeds. */
function hasCommand(command: string, versionArgs: readonly string[] = ['--version']): boolean {
  return spawnSync(command, versionArgs, { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** A fresh directory, removed when the test ends. */
function temporaryDirectory(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}
