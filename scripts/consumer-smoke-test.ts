// Consumer smoke test: what a user gets from `npm install`, checked outside the workspace.
//
// Packs every published package with pnpm (which rewrites `workspace:^` to real versions), installs
// the tarballs with npm into a temporary project under os.tmpdir(), then checks, from that project
// only: the packed files, ESM imports and CommonJS require of each entry point, a type check of code
// using each package's API (module node16, then esnext with moduleResolution bundler), and the
// installed `echo-server` and `repl-client` commands against each other and the installed client.
//
// Run after a build, on Node >= 24.20: `node scripts/consumer-smoke-test.ts` (Unix only: children run
// in process groups of their own). One line per check; the first failure stops it with exit 1. Every
// wait is bounded, every process started is stopped, and the temporary directory is removed.
// `--keep` keeps the temporary directory for a look afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  access,
  constants,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  realpath,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const workspaceRoot = fileURLToPath(new URL('..', import.meta.url));
const pnpmSpec = 'pnpm@12.4.2';
const devDependencies = { typescript: '6.0.3', '@types/node': '24.19.2' };

/** Packages packed and installed; `bin` lists the commands each one must link. */
const packages = [
  { name: '@socketserver/core', bins: [] },
  { name: '@socketserver/handlers', bins: [] },
  { name: '@socketserver/client', bins: [] },
  { name: '@socketserver/concurrency', bins: [] },
  { name: '@socketserver/echo', bins: ['echo-server'] },
  { name: '@socketserver/repl-client', bins: ['repl-client'] },
] as const;

/** Runtime exports each entry point must have (every one a class or a function). */
const expectedExports: Record<string, readonly string[]> = {
  '@socketserver/core': [
    'TCPServer',
    'serialStrategy',
    'eventLoopStrategy',
    'formatClientAddress',
    'SocketServerError',
    'BindError',
    'ServerClosedError',
  ],
  '@socketserver/core/strategy': ['InThreadStrategy', 'serveRequest', 'requireInteger', 'HandshakeGate'],
  '@socketserver/handlers': ['BaseRequestHandler', 'StreamRequestHandler', 'SocketRequest', 'LineReader'],
  '@socketserver/client': ['connect', 'TestClient', 'ClientError'],
  '@socketserver/client/server-process': ['ServerProcess'],
  '@socketserver/concurrency': [
    'threading',
    'forking',
    'pool',
    'WorkerPool',
    'ThreadingTCPServer',
    'ForkingTCPServer',
    'WorkerPoolTCPServer',
  ],
  '@socketserver/echo': ['main'],
  '@socketserver/repl-client': ['main'],
};

/** Export conditions a consumer resolves; the workspace-only `@socketserver/source` is not one. */
const consumerConditions = new Set(['types', 'import', 'require', 'node', 'default']);
/** Files every tarball must have, besides what `exports` and `bin` name. */
const requiredFiles = ['package.json', 'README.md', 'LICENSE'];
/** Files that must never be packed. */
const forbiddenFile = /(^|\/)(src\/|test-support\/)|\.test\.|\.test-fixture\.|tsbuildinfo$/;

const timeouts = {
  pack: 120_000,
  npmInstall: 300_000,
  tsc: 120_000,
  node: 20_000,
  serverStart: 15_000,
  serverExit: 15_000,
  groupGone: 5_000,
};

class CheckFailure extends Error {
  readonly details: string;
  constructor(message: string, details = '') {
    super(message);
    this.details = details;
  }
}

// ---------------------------------------------------------------------------------------------
// Processes: each child in a process group of its own, so a timeout or the end kills all of it.

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<Child>();

class Child {
  readonly process: ChildProcess;
  readonly description: string;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Outcome>;
  #exitCode: number | null | undefined;
  #onOutput: (() => void) | undefined;

  constructor(command: string, args: readonly string[], cwd: string, input?: string) {
    this.description = [command === process.execPath ? 'node' : command, ...args].join(' ');
    this.process = spawn(command, args, {
      cwd,
      env: childEnvironment(),
      detached: true,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    running.add(this);
    this.process.stdout?.setEncoding('utf8').on('data', (text: string) => {
      this.stdout += text;
      this.#onOutput?.();
    });
    this.process.stderr?.setEncoding('utf8').on('data', (text: string) => void (this.stderr += text));
    if (input !== undefined) this.process.stdin?.end(input);
    this.exited = new Promise((resolve) => {
      this.process.once('error', (error) => {
        this.stderr += `\n${error.message}`;
        this.#exitCode = null;
        running.delete(this);
        resolve({ code: null, signal: null, stdout: this.stdout, stderr: this.stderr });
      });
      this.process.once('close', (code, signal) => {
        this.#exitCode = code;
        running.delete(this);
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  get isRunning(): boolean {
    return this.#exitCode === undefined;
  }

  /** Resolves with the outcome; on timeout kills the process group and fails. */
  async waitForExit(timeoutMs: number): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const result = await Promise.race([this.exited, timedOut]);
      if (result !== 'timeout') return result;
    } finally {
      clearTimeout(timer);
    }
    this.killGroup();
    const outcome = await this.exited;
    throw new CheckFailure(
      `\`${this.description}\` did not exit within ${timeoutMs / 1000} s (killed)`,
      describeOutput(outcome),
    );
  }

  /** The first stdout line matching `pattern`; fails if the process exits or `timeoutMs` passes first. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.stdout.split('\n').slice(0, -1)) {
        const match = pattern.exec(line);
        if (match !== null) return match;
      }
      const remaining = deadline - Date.now();
      if (!this.isRunning || remaining <= 0) {
        const reason = this.isRunning ? `within ${timeoutMs / 1000} s` : 'before it exited';
        throw new CheckFailure(
          `\`${this.description}\` printed no line matching ${String(pattern)} ${reason}`,
          describeOutput({ code: null, signal: null, stdout: this.stdout, stderr: this.stderr }),
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, remaining);
        this.exited.then(done, done);
        this.#onOutput = done;
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
      });
      this.#onOutput = undefined;
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.isRunning) this.process.kill(signal);
  }

  /** Whether any process of the child's group (the child, or what it started) is alive. */
  groupIsAlive(): boolean {
    if (this.process.pid === undefined) return false;
    try {
      process.kill(-this.process.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  killGroup(): void {
    if (this.process.pid === undefined) return;
    try {
      process.kill(-this.process.pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  }
}

/** Runs a command to its end, bounded by `timeoutMs`. */
async function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeoutMs: number; input?: string },
): Promise<Outcome> {
  return new Child(command, args, options.cwd, options.input).waitForExit(options.timeoutMs);
}

/** Runs a command and fails unless it exits 0. */
async function runOk(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeoutMs: number; input?: string },
): Promise<Outcome> {
  const outcome = await run(command, args, options);
  if (outcome.code !== 0) {
    throw new CheckFailure(
      `\`${[command === process.execPath ? 'node' : command, ...args].join(' ')}\` exited with ${exitDescription(outcome)}`,
      describeOutput(outcome),
    );
  }
  return outcome;
}

/**
 * The environment for children, without the `npm_*` and `pnpm_*` settings that `pnpm run` and `npx`
 * pass down (`npm_config_local_prefix` names the workspace): the temporary project must behave as a
 * fresh one. Registry, proxy and certificate settings stay.
 */
function childEnvironment(): NodeJS.ProcessEnv {
  const kept =
    /^npm_config_(registry|.*:registry|cafile|ca|cache|userconfig|proxy|https_proxy|noproxy|strict_ssl)$/i;
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^p?npm_/i.test(key) || kept.test(key)),
  );
}

function exitDescription(outcome: Outcome): string {
  return outcome.signal === null ? `code ${outcome.code}` : `signal ${outcome.signal}`;
}

function describeOutput(outcome: Outcome): string {
  const tail = (text: string): string => {
    const lines = text.trimEnd().split('\n');
    return (lines.length > 40 ? ['...', ...lines.slice(-40)] : lines).map((line) => `    ${line}`).join('\n');
  };
  return [
    outcome.stdout.trim() === '' ? '  stdout: (empty)' : `  stdout:\n${tail(outcome.stdout)}`,
    outcome.stderr.trim() === '' ? '  stderr: (empty)' : `  stderr:\n${tail(outcome.stderr)}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Checks

let checkCount = 0;
/** Set when this script is interrupted: what fails afterwards is the interruption, not a check. */
let interruption: NodeJS.Signals | undefined;

async function check(name: string, body: () => Promise<string>): Promise<void> {
  const started = performance.now();
  const summary = await body().catch((error: unknown) => {
    throw error instanceof CheckFailure
      ? new CheckFailure(`${name}: ${error.message}`, error.details)
      : new CheckFailure(
          `${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
  });
  checkCount += 1;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`ok   ${name}: ${summary} (${seconds} s)`);
}

interface Tarball {
  file: string;
  version: string;
}

async function packAll(tarballDirectory: string): Promise<Map<string, Tarball>> {
  const filters = packages.flatMap(({ name }) => ['--filter', name]);
  const { stdout } = await runOk(
    'npx',
    ['-y', pnpmSpec, ...filters, 'pack', '--pack-destination', tarballDirectory, '--json'],
    { cwd: workspaceRoot, timeoutMs: timeouts.pack },
  );
  let report: unknown;
  try {
    report = JSON.parse(stdout);
  } catch {
    throw new CheckFailure(
      'pnpm pack --json printed no JSON',
      describeOutput({ code: 0, signal: null, stdout, stderr: '' }),
    );
  }
  const entries = (Array.isArray(report) ? report : [report]) as Record<string, unknown>[];
  const tarballs = new Map<string, Tarball>();
  for (const { name, version, filename } of entries) {
    if (typeof name === 'string' && typeof version === 'string' && typeof filename === 'string') {
      tarballs.set(name, { file: filename, version });
    }
  }
  for (const { name } of packages) {
    const file = tarballs.get(name)?.file;
    if (file === undefined) throw new CheckFailure(`pnpm pack produced no tarball for ${name}`);
    await access(file).catch(() => {
      throw new CheckFailure(`pnpm pack reported ${file}, which does not exist`);
    });
  }
  return tarballs;
}

async function listFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(directory, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort();
}

/** Every file a consumer can reach through `exports` and `bin`, as relative paths. */
function publishedTargets(manifest: Record<string, unknown>): string[] {
  const targets: string[] = [];
  const walk = (value: unknown, condition: string | undefined): void => {
    if (typeof value === 'string') {
      if (condition === undefined || consumerConditions.has(condition)) targets.push(value);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) walk(inner, key.startsWith('.') ? condition : key);
    }
  };
  walk(manifest.exports, undefined);
  if (typeof manifest.main === 'string') targets.push(manifest.main);
  if (typeof manifest.types === 'string') targets.push(manifest.types);
  walk(manifest.bin, undefined);
  return [...new Set(targets.map((target) => target.replace(/^\.\//, '')))];
}

async function checkContents(projectDirectory: string, name: string, version: string): Promise<string> {
  const directory = join(projectDirectory, 'node_modules', name);
  const manifest = JSON.parse(await readFile(join(directory, 'package.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  if (manifest.version !== version) {
    throw new CheckFailure(`installed version ${String(manifest.version)}, packed ${version}`);
  }
  const workspaceSpecs = Object.entries({
    ...(manifest.dependencies as Record<string, string> | undefined),
    ...(manifest.peerDependencies as Record<string, string> | undefined),
    ...(manifest.optionalDependencies as Record<string, string> | undefined),
  }).filter(
    ([, spec]) => spec.startsWith('workspace:') || spec.startsWith('link:') || spec.startsWith('file:'),
  );
  if (workspaceSpecs.length > 0) {
    throw new CheckFailure(
      `unpublishable dependency specs: ${workspaceSpecs.map((pair) => pair.join('@')).join(', ')}`,
    );
  }
  const files = await listFiles(directory);
  const forbidden = files.filter((file) => forbiddenFile.test(file));
  if (forbidden.length > 0) throw new CheckFailure(`packed files that must not be: ${forbidden.join(', ')}`);
  const missing = [...requiredFiles, ...publishedTargets(manifest)].filter((file) => !files.includes(file));
  if (missing.length > 0) throw new CheckFailure(`missing from the tarball: ${missing.join(', ')}`);
  return `${files.length} files: ${requiredFiles.join(', ')} and every exports/bin target; no sources or tests`;
}

async function checkBins(projectDirectory: string): Promise<string> {
  const versions: string[] = [];
  for (const { name, bins } of packages) {
    for (const bin of bins) {
      const link = join(projectDirectory, 'node_modules', '.bin', bin);
      const manifest = JSON.parse(
        await readFile(join(projectDirectory, 'node_modules', name, 'package.json'), 'utf8'),
      ) as { version: string; bin: Record<string, string> };
      const target = join(projectDirectory, 'node_modules', name, manifest.bin[bin] ?? '(none)');
      const [linked, expected] = await Promise.all([
        realpath(link).catch(() => 'missing'),
        realpath(target).catch(() => 'missing'),
      ]);
      if (linked === 'missing' || linked !== expected) {
        throw new CheckFailure(
          `node_modules/.bin/${bin} does not lead to ${relative(projectDirectory, target)}`,
        );
      }
      await access(link, constants.X_OK).catch(() => {
        throw new CheckFailure(`node_modules/.bin/${bin} is not executable`);
      });
      const { stdout } = await runOk(process.execPath, [link, '--version'], {
        cwd: projectDirectory,
        timeoutMs: timeouts.node,
      });
      if (stdout.trim() !== manifest.version) {
        throw new CheckFailure(
          `${bin} --version printed ${JSON.stringify(stdout.trim())}, expected ${manifest.version}`,
        );
      }
      versions.push(`${bin} ${manifest.version}`);
    }
  }
  return `linked and runnable: ${versions.join(', ')}`;
}

// The consumer's own files, written into the temporary project.

/** A module that loads each entry point (`import()` or `require()`) and checks its exports. */
function importCheckModule(kind: 'esm' | 'cjs'): string {
  const body = `const expected = ${JSON.stringify(expectedExports, null, 2)};
const problems = [];
for (const [specifier, names] of Object.entries(expected)) {
  let namespace;
  try {
    namespace = ${kind === 'esm' ? 'await import(specifier)' : 'require(specifier)'};
  } catch (error) {
    problems.push(\`\${specifier}: cannot be loaded: \${error.message}\`);
    continue;
  }
  for (const name of names) {
    if (typeof namespace[name] !== 'function') problems.push(\`\${specifier}: \${name} is \${typeof namespace[name]}\`);
  }
}
if (problems.length > 0) {
  console.error(problems.join('\\n'));
  process.exit(1);
}
console.log(Object.values(expected).flat().length);
`;
  return kind === 'esm' ? body : `'use strict';\n${body}`;
}

const clientEchoModule = `import { connect } from '@socketserver/client';

const [port, text] = process.argv.slice(2);
const client = await connect('127.0.0.1', Number(port), { timeoutMs: 5000 });
try {
  await client.send(\`\${text}\\n\`, { timeoutMs: 5000 });
  const line = await client.readline({ timeoutMs: 5000 });
  process.stdout.write(line);
} finally {
  await client.close();
}
`;

const typeCheckSource = `// Uses each package's API the way the README does; only type-checked, never run.
import {
  TCPServer,
  eventLoopStrategy,
  formatClientAddress,
  SocketServerError,
  type ConcurrencyStrategy,
  type ServerAddress,
  type TCPServerOptions,
} from '@socketserver/core';
import { BaseRequestHandler, StreamRequestHandler } from '@socketserver/handlers';
import { pool, threading, ThreadingTCPServer, WorkerPoolTCPServer, type PoolOptions } from '@socketserver/concurrency';
import { connect, ClientError, type TestClient } from '@socketserver/client';
import { ServerProcess, type ProcessExit } from '@socketserver/client/server-process';
import { main as echoMain } from '@socketserver/echo';

export class EchoHandler extends StreamRequestHandler {
  static moduleURL = import.meta.url;

  override async handle(): Promise<void> {
    console.log(\`Got connection from \${formatClientAddress(this.clientAddress)}\`);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

export class RawHandler extends BaseRequestHandler {
  override async handle(): Promise<void> {
    for (;;) {
      const data: Buffer = await this.request.recv(8192);
      if (data.length === 0) break;
      await this.request.sendAll(data);
    }
  }
}

export async function serve(): Promise<void> {
  const address: ServerAddress = ['127.0.0.1', 0];
  const options: TCPServerOptions = { strategy: eventLoopStrategy(), maxConnections: 100 };
  await using server = new TCPServer(address, EchoHandler, options);
  const port: number = server.port;
  const serving: Promise<void> = server.serveForever();

  const client: TestClient = await connect('127.0.0.1', port, { timeoutMs: 5000 });
  const sent: number = await client.send('Hello\\n');
  const line: Buffer = await client.readline({ timeoutMs: 5000 });
  console.log(sent, line.toString());
  await client.close();
  await server.shutdown({ drainTimeoutMs: 1000 });
  await serving;

  const strategies: ConcurrencyStrategy[] = [threading({ maxThreads: 4 }), pool({ workers: 2, kind: 'process' })];
  const poolOptions: PoolOptions = { workers: 4, kind: 'thread' };
  const threaded = new ThreadingTCPServer(address, EchoHandler);
  const pooled = new WorkerPoolTCPServer(address, EchoHandler, poolOptions);
  const raw = new TCPServer(address, RawHandler, { strategy: strategies[0] });
  await Promise.all([threaded.serverClose(), pooled.serverClose(), raw.serverClose()]);

  await using echo = ServerProcess.start(process.execPath, ['node_modules/.bin/echo-server', '--port', '0']);
  const banner: string = await echo.waitForLine(/running on port/, { timeoutMs: 5000 });
  echo.kill('SIGINT');
  const exit: ProcessExit = await echo.waitForExit({ timeoutMs: 5000 });
  console.log(banner, exit.code, exit.signal);

  const exitCode: number = await echoMain(['--help']);
  console.log(exitCode);
}

export function describe(error: unknown): string {
  if (error instanceof ClientError) return error.code;
  if (error instanceof SocketServerError) return error.code;
  return String(error);
}

// The types are real, not \`any\`: each of these must be an error.
// @ts-expect-error the port is a number
export const badAddress: ServerAddress = ['127.0.0.1', '20000'];
// @ts-expect-error a strategy is required to be one
export const badOptions: TCPServerOptions = { strategy: 'thread' };
// @ts-expect-error connect takes a host and a port
export const badConnect: Promise<TestClient> = connect(20000);
// @ts-expect-error a pool is of threads or processes
export const badPool: PoolOptions = { kind: 'fiber' };
`;

function tsconfig(module: string, moduleResolution: string): string {
  return `${JSON.stringify(
    {
      compilerOptions: {
        target: 'es2022',
        module,
        moduleResolution,
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['consumer.ts'],
    },
    null,
    2,
  )}\n`;
}

async function startEchoServer(
  projectDirectory: string,
  flags: readonly string[],
): Promise<{ server: Child; port: number }> {
  const server = new Child(
    process.execPath,
    [join('node_modules', '.bin', 'echo-server'), '--port', '0', '--quiet', ...flags],
    projectDirectory,
  );
  const match = await server.waitForLine(
    /^(?:Echo|Multithreaded) server running on port (\d+)$/,
    timeouts.serverStart,
  );
  return { server, port: Number(match[1]) };
}

async function echoThroughClient(projectDirectory: string, port: number, text: string): Promise<void> {
  const { stdout } = await runOk(process.execPath, ['client-echo.mjs', String(port), text], {
    cwd: projectDirectory,
    timeoutMs: timeouts.node,
  });
  if (stdout !== `${text}\n`) {
    throw new CheckFailure(
      `the installed client read back ${JSON.stringify(stdout)}, expected ${JSON.stringify(`${text}\n`)}`,
    );
  }
}

/** Stops the server with `signal`, expects `code`, and that no process of its group is left. */
async function stopEchoServer(server: Child, signal: NodeJS.Signals, code: number): Promise<Outcome> {
  server.signal(signal);
  const outcome = await server.waitForExit(timeouts.serverExit);
  if (outcome.code !== code) {
    throw new CheckFailure(
      `echo-server exited with ${exitDescription(outcome)} on ${signal}, expected code ${code}`,
      describeOutput(outcome),
    );
  }
  const deadline = Date.now() + timeouts.groupGone;
  while (server.groupIsAlive()) {
    if (Date.now() > deadline) {
      server.killGroup();
      throw new CheckFailure(
        `processes started by echo-server outlived it by ${timeouts.groupGone / 1000} s (killed)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return outcome;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = performance.now();
  const isKeeping = process.argv.includes('--keep');
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 24 || (major === 24 && minor < 20)) {
    throw new CheckFailure(
      `needs Node.js >= 24.20.0, this is ${process.version} (use node_modules/.bin/node)`,
    );
  }
  const temporary = await mkdtemp(join(tmpdir(), 'socketserver-consumer-'));
  const tarballDirectory = join(temporary, 'tarballs');
  const projectDirectory = join(temporary, 'project');
  let cleaning: Promise<void> | undefined;
  const cleanUp = async (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const child of running) child.killGroup();
      await Promise.all([...running].map(async (child) => child.exited));
      if (isKeeping) console.log(`kept ${temporary}`);
      else await rm(temporary, { recursive: true, force: true, maxRetries: 3 });
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    interruption = signal;
    console.error(`\nconsumer smoke test: ${signal}, stopping every process and removing ${temporary}`);
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    console.log(`consumer smoke test in ${temporary}`);
    await mkdir(tarballDirectory);
    await mkdir(projectDirectory);

    let tarballs = new Map<string, Tarball>();
    await check('pack', async () => {
      tarballs = await packAll(tarballDirectory);
      return packages
        .map(({ name }) => relative(tarballDirectory, tarballs.get(name)?.file ?? ''))
        .join(', ');
    });

    await check('npm install', async () => {
      await writeFile(
        join(projectDirectory, 'package.json'),
        `${JSON.stringify({ name: 'socketserver-consumer', version: '0.0.0', private: true, type: 'module', devDependencies }, null, 2)}\n`,
      );
      const specs = packages.map(({ name }) => relative(projectDirectory, tarballs.get(name)?.file ?? ''));
      await runOk('npm', ['install', '--no-audit', '--no-fund', '--no-update-notifier', ...specs], {
        cwd: projectDirectory,
        timeoutMs: timeouts.npmInstall,
      });
      const pins = Object.entries(devDependencies).map(([name, version]) => `${name}@${version}`);
      return `${specs.length} tarballs, ${pins.join(', ')}, in a project outside the workspace`;
    });

    for (const { name } of packages) {
      const version = tarballs.get(name)?.version ?? '?';
      await check(`contents ${name}`, async () => checkContents(projectDirectory, name, version));
    }

    await check('bins', async () => checkBins(projectDirectory));

    await writeFile(join(projectDirectory, 'import-check.mjs'), importCheckModule('esm'));
    await writeFile(join(projectDirectory, 'require-check.cjs'), importCheckModule('cjs'));
    await writeFile(join(projectDirectory, 'client-echo.mjs'), clientEchoModule);
    await writeFile(join(projectDirectory, 'consumer.ts'), typeCheckSource);
    await writeFile(join(projectDirectory, 'tsconfig.node16.json'), tsconfig('node16', 'node16'));
    await writeFile(join(projectDirectory, 'tsconfig.bundler.json'), tsconfig('esnext', 'bundler'));

    for (const [file, how] of [
      ['import-check.mjs', 'import() from ESM'],
      ['require-check.cjs', 'require() from CommonJS'],
    ] as const) {
      await check(how, async () => {
        const { stdout } = await runOk(process.execPath, [file], {
          cwd: projectDirectory,
          timeoutMs: timeouts.node,
        });
        return `${Object.keys(expectedExports).length} entry points, ${stdout.trim()} exports present`;
      });
    }

    for (const variant of ['node16', 'bundler'] as const) {
      const label = variant === 'node16' ? 'module node16' : 'module esnext, moduleResolution bundler';
      await check(`tsc --noEmit (${label})`, async () => {
        await runOk(
          process.execPath,
          [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', `tsconfig.${variant}.json`],
          {
            cwd: projectDirectory,
            timeoutMs: timeouts.tsc,
          },
        );
        return 'consumer.ts type-checks against the published .d.ts (skipLibCheck off)';
      });
    }

    let server: Child | undefined;
    let port = 0;
    await check('echo-server starts', async () => {
      ({ server, port } = await startEchoServer(projectDirectory, []));
      return `listening on port ${port}`;
    });
    await check('installed client echoes through echo-server', async () => {
      await echoThroughClient(projectDirectory, port, 'Hello from the installed client');
      return 'sent a line, read it back';
    });
    await check('repl-client --line', async () => {
      const text = 'Hello from repl-client\n';
      const outcome = await runOk(
        process.execPath,
        [
          join('node_modules', '.bin', 'repl-client'),
          '--line',
          '--wait-ms',
          '300',
          '127.0.0.1',
          String(port),
        ],
        { cwd: projectDirectory, timeoutMs: timeouts.node, input: text },
      );
      if (outcome.stdout !== text) {
        throw new CheckFailure(
          `printed ${JSON.stringify(outcome.stdout)}, expected ${JSON.stringify(text)}`,
          describeOutput(outcome),
        );
      }
      return 'piped a line, printed its echo, exited 0';
    });
    await check('echo-server SIGINT', async () => {
      if (server === undefined) throw new CheckFailure('no server');
      const outcome = await stopEchoServer(server, 'SIGINT', 1);
      if (!outcome.stdout.includes('Leaving.')) {
        throw new CheckFailure('no "Leaving." line', describeOutput(outcome));
      }
      return 'printed "Leaving.", exited 1';
    });

    // Worker threads and processes load their entry modules from the installed package.
    for (const flags of [
      ['--strategy', 'thread'],
      ['--strategy', 'pool', '--pool-kind', 'process', '--workers', '2'],
    ]) {
      await check(`echo-server ${flags.join(' ')}`, async () => {
        const started = await startEchoServer(projectDirectory, flags);
        await echoThroughClient(projectDirectory, started.port, `Hello over ${flags.join(' ')}`);
        await stopEchoServer(started.server, 'SIGTERM', 0);
        return 'echoed a line, SIGTERM exited 0, no process left';
      });
    }

    // A Unix datagram server and client use node-unix-socket's prebuilt binary, installed by npm.
    await check('echo-server --unix PATH --protocol udp', async () => {
      const socketPath = join(temporary, 'echo.sock');
      const unixServer = new Child(
        process.execPath,
        [join('node_modules', '.bin', 'echo-server'), '--unix', socketPath, '--protocol', 'udp', '--quiet'],
        projectDirectory,
      );
      await unixServer.waitForLine(/^Echo server running on (.+)$/, timeouts.serverStart);
      const text = 'Hello over a Unix datagram socket\n';
      const outcome = await runOk(
        process.execPath,
        [
          join('node_modules', '.bin', 'repl-client'),
          '--line',
          '--wait-ms',
          '300',
          '--protocol',
          'udp',
          '--unix',
          socketPath,
        ],
        { cwd: projectDirectory, timeoutMs: timeouts.node, input: text },
      );
      if (outcome.stdout !== text) {
        throw new CheckFailure(
          `repl-client printed ${JSON.stringify(outcome.stdout)}, expected ${JSON.stringify(text)}`,
          describeOutput(outcome),
        );
      }
      await stopEchoServer(unixServer, 'SIGTERM', 0);
      return 'repl-client sent a datagram and printed its echo; SIGTERM exited 0';
    });
  } finally {
    await cleanUp();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`consumer smoke test: all ${checkCount} checks ok in ${seconds} s`);
}

try {
  await main();
} catch (error) {
  const failure =
    error instanceof CheckFailure
      ? error
      : new CheckFailure(error instanceof Error ? (error.stack ?? error.message) : String(error));
  if (interruption !== undefined) {
    console.error(`consumer smoke test interrupted by ${interruption} after ${checkCount} checks ok`);
    process.exit(interruption === 'SIGINT' ? 130 : 143);
  }
  console.error(`FAIL ${failure.message}`);
  if (failure.details !== '') console.error(failure.details);
  console.error(`consumer smoke test failed after ${checkCount} checks ok`);
  process.exitCode = 1;
}
