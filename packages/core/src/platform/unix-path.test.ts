import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { isMainThread, Worker } from 'node:worker_threads';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { eventLoopStrategy } from '../strategy/event-loop-strategy.js';
import {
  DatagramEchoHandler,
  Inbox,
  leaveStaleDatagramSocket,
  leaveStaleStreamSocket,
  roundTrip,
  StreamClient,
  tempDir,
  within,
} from '../test-support/socket-helpers.js';
import { EchoHandler } from '../test-support/test-handlers.js';
import { UnixDatagramServer } from '../servers/unix-datagram-server.js';
import { probeUnixPath } from './unix-path.js';
import { UnixStreamServer } from '../servers/unix-stream-server.js';

// Child processes and worker threads run the built package, as the CLI and strategies do.
const coreUrl = new URL('../../dist/index.js', import.meta.url).href;

/**
 * A child process serving Unix stream sockets on command, one JSON line each way. In:
 * `{"bind": path}` (a UnixStreamServer whose handler writes the child's pid and ends), `{"close":
 * true}`. Out: `{"ready": true}` once core is imported, then `{"bound": true}` or `{"bound": false,
 * code, message, path}` for each bind, `{"closed": true}` for each close.
 */
const childScript = `
const core = await import(${JSON.stringify(coreUrl)});
const { createInterface } = await import('node:readline');
class Hello {
  constructor(request) { this.request = request; }
  setup() {}
  handle() { this.request.write(String(process.pid)); }
  finish() {}
}
const say = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
let server;
const lines = createInterface({ input: process.stdin });
lines.on('close', () => process.exit(0));
lines.on('line', async (line) => {
  const order = JSON.parse(line);
  if (order.bind !== undefined) {
    try {
      server = new core.UnixStreamServer(order.bind, Hello, { strategy: core.eventLoopStrategy() });
      server.serveForever().catch(() => {});
      await server.listening;
      say({ bound: true });
    } catch (error) {
      say({ bound: false, code: error.code, message: error.message, path: error.path });
    }
  } else if (order.close) {
    await server?.serverClose();
    server = undefined;
    say({ closed: true });
  }
});
say({ ready: true });
`;

interface BindOutcome {
  readonly bound: boolean;
  readonly code?: string;
  readonly message?: string;
  readonly path?: string;
}

/** A child process running {@link childScript}; killed when the test finishes. */
class ServerChild {
  readonly child: ChildProcessByStdio<Writable, Readable, null>;
  readonly lines: Inbox<Record<string, unknown>> = new Inbox();

  private constructor(cwd: string | undefined) {
    this.child = spawn(process.execPath, ['--input-type=module', '-e', childScript], {
      cwd,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    onTestFinished(() => void this.child.kill('SIGKILL'));
    createInterface({ input: this.child.stdout }).on('line', (line) =>
      this.lines.push(JSON.parse(line) as Record<string, unknown>),
    );
  }

  /** A child that has imported core, with `cwd` as its working directory. */
  static async start(cwd?: string): Promise<ServerChild> {
    const started = new ServerChild(cwd);
    expect(await started.lines.next(20_000, 'the child to import core')).toEqual({ ready: true });
    return started;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  send(order: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify(order)}\n`);
  }

  async outcome(): Promise<BindOutcome> {
    return (await this.lines.next(20_000, 'the outcome of a bind')) as unknown as BindOutcome;
  }

  async close(): Promise<void> {
    this.send({ close: true });
    expect(await this.lines.next(10_000, 'the server to close')).toEqual({ closed: true });
  }
}

/** What the server on `path` writes to a new connection (a child's pid) before it ends it. */
async function greeting(path: string): Promise<string> {
  const client = await StreamClient.connect(path);
  return (await client.readToEnd()).toString();
}

/** A UnixStreamServer quiet about the connections probes close at once (no answer expected). */
class QuietServer extends UnixStreamServer {
  override handleError(): void {}
}

/** The process umask, read without leaving it changed. */
function currentUmask(): number {
  const mask = process.umask(0o077);
  process.umask(mask);
  return mask;
}

function octal(value: number): string {
  return value.toString(8).padStart(3, '0');
}

/** Run the test body with the process umask set to `mask`, restored when the test finishes. */
function useUmask(mask: number): void {
  const previous = process.umask(mask);
  onTestFinished(() => void process.umask(previous));
}

describe('probeUnixPath', () => {
  it('says what is at a path: stale, live (stream or datagram), not-socket, gone', async () => {
    const dir = tempDir();
    const stale = join(dir, 'stale.sock');
    leaveStaleDatagramSocket(stale);
    expect(probeUnixPath(stale)).toBe('stale');

    const stream = join(dir, 'stream.sock');
    const server = new QuietServer(stream, EchoHandler, { strategy: eventLoopStrategy() });
    onTestFinished(() => server.serverClose());
    await server.listening;
    expect(probeUnixPath(stream)).toBe('live');

    const datagram = join(dir, 'datagram.sock');
    const datagramServer = new UnixDatagramServer(datagram, DatagramEchoHandler);
    onTestFinished(() => datagramServer.serverClose());
    await datagramServer.listening;
    expect(probeUnixPath(datagram)).toBe('live');

    const file = join(dir, 'file');
    writeFileSync(file, '');
    expect(probeUnixPath(file)).toBe('not-socket');
    expect(probeUnixPath(join(dir, 'missing.sock'))).toBe('gone');
  });

  it('binding over a stale path 20 times: each probe well under its 5 s limit, and no probe thread is left', async () => {
    const dir = tempDir();
    const bindOverStale = async (name: string): Promise<number> => {
      const path = join(dir, name);
      leaveStaleDatagramSocket(path);
      const started = performance.now();
      const server = new UnixStreamServer(path, EchoHandler, { strategy: eventLoopStrategy() });
      const elapsed = performance.now() - started;
      await server.serverClose();
      expect(existsSync(path)).toBe(false);
      return elapsed;
    };
    await bindOverStale('warm-up.sock'); // whatever a first bind starts for good (libuv threads)
    const threads = (): number => (process.platform === 'linux' ? readdirSync('/proc/self/task').length : 0); // OS threads
    const ports = (): number =>
      process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort').length;
    const [threadsBefore, portsBefore] = [threads(), ports()];
    const times: number[] = [];
    for (let round = 0; round < 20; round += 1) times.push(await bindOverStale(`s${round}.sock`));
    expect(Math.max(...times)).toBeLessThan(2_500);
    // The probe threads end on their own once this thread's loop turns: none is left.
    await vi.waitFor(
      () => {
        expect(threads()).toBeLessThanOrEqual(threadsBefore);
        expect(ports()).toBeLessThanOrEqual(portsBefore);
      },
      { timeout: 5_000, interval: 10 },
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a process that bound over a stale path and closed its server exits by itself (the probe holds nothing)', async () => {
    const path = join(tempDir(), 's.sock');
    leaveStaleDatagramSocket(path);
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const core = await import(${JSON.stringify(coreUrl)});
         class Quiet { setup() {} handle() {} finish() {} }
         const server = new core.UnixStreamServer(process.argv[1], Quiet);
         await server.serverClose();
         process.stdout.write('closed');`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    onTestFinished(() => void child.kill('SIGKILL'));
    const exited = once(child, 'exit');
    const output = within(
      (async () => {
        let text = '';
        for await (const chunk of child.stdout) text += String(chunk);
        return text;
      })(),
      'the child to write',
      20_000,
    );
    expect(await output).toBe('closed');
    const [code] = (await within(exited, 'the child to exit by itself', 5_000)) as [number | null];
    expect(code).toBe(0);
  });
});

describe('Unix socket paths: servers racing for one stale path', () => {
  it(
    'of three servers started together on a stale path, exactly one binds; the others get ERR_ADDRESS_IN_USE naming it, and the winner serves on (30 rounds)',
    {
      timeout: 90_000,
    },
    async () => {
      const dir = tempDir();
      const children = await Promise.all([ServerChild.start(), ServerChild.start(), ServerChild.start()]);
      const deadline = performance.now() + 60_000;
      for (let round = 0; round < 30 && performance.now() < deadline; round += 1) {
        const path = join(dir, `r${round}.sock`);
        leaveStaleDatagramSocket(path);
        expect(probeUnixPath(path)).toBe('stale');
        for (const child of children) child.send({ bind: path });
        const outcomes = await Promise.all(children.map((child) => child.outcome()));
        const winners = children.filter((_, index) => outcomes[index]?.bound === true);
        const losers = outcomes.filter((outcome) => !outcome.bound);
        expect(winners, `round ${round}: ${JSON.stringify(outcomes)}`).toHaveLength(1);
        for (const loser of losers) {
          expect(loser, `round ${round}`).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', path });
          expect(loser.message).toContain(path);
        }
        // The winner's socket file is at the path (not deleted, not moved aside), and it answers.
        const [winner] = winners as [ServerChild];
        expect(await greeting(path)).toBe(String(winner.pid));
        expect(readdirSync(dir)).toEqual([`r${round}.sock`]);
        await winner.close();
        expect(existsSync(path)).toBe(false);
      }
    },
  );
});

describe('Unix socket paths: a path that starts with a dash', () => {
  it("a stale '-stale.sock' (relative, in the working directory) is taken over and served", async () => {
    const dir = tempDir();
    await leaveStaleStreamSocket(join(dir, '-stale.sock'));
    expect(probeUnixPath(join(dir, '-stale.sock'))).toBe('stale');
    const child = await ServerChild.start(dir);
    child.send({ bind: '-stale.sock' });
    expect(await child.outcome()).toEqual({ bound: true });
    expect(await greeting(join(dir, '-stale.sock'))).toBe(String(child.pid));
    await child.close();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('Unix socket paths: mode', () => {
  const modes = [0o600, 0o660, 0o666, 0o777];

  it('runs on the main thread, where the umask is set around the bind', () => {
    expect(isMainThread).toBe(true);
  });

  it.each(
    modes.flatMap((mode) => [0o077, 0o000].map((mask) => [octal(mode), mode, octal(mask), mask] as const)),
  )('a stream socket file gets mode 0o%s exactly, under umask 0o%s', async (_mode, mode, _mask, mask) => {
    useUmask(mask);
    const path = join(tempDir(), 's.sock');
    const server = new UnixStreamServer(path, EchoHandler, { mode, strategy: eventLoopStrategy() });
    onTestFinished(() => server.serverClose());
    expect(currentUmask()).toBe(mask);
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(lstatSync(path).mode & 0o7777).toBe(mode);
    void server.serveForever();
    expect((await roundTrip(path, Buffer.from('x'))).toString()).toBe('x');
  });

  it.each(modes.map((mode) => [octal(mode), mode] as const))(
    'a datagram socket file gets mode 0o%s exactly, under umask 0o077, also over a stale file',
    async (_mode, mode) => {
      useUmask(0o077);
      const path = join(tempDir(), 'd.sock');
      leaveStaleDatagramSocket(path);
      const server = new UnixDatagramServer(path, DatagramEchoHandler, { mode });
      onTestFinished(() => server.serverClose());
      await server.listening;
      expect(currentUmask()).toBe(0o077);
      expect(lstatSync(path).mode & 0o7777).toBe(mode);
    },
  );

  it('the umask is unchanged after a failed bind: a live owner, a missing directory, a regular file', async () => {
    useUmask(0o027);
    const dir = tempDir();
    const live = join(dir, 'live.sock');
    const owner = new QuietServer(live, EchoHandler, { strategy: eventLoopStrategy() });
    onTestFinished(() => owner.serverClose());
    await owner.listening;
    const file = join(dir, 'file');
    writeFileSync(file, 'kept');
    for (const [path, code] of [
      [live, 'ERR_ADDRESS_IN_USE'],
      [join(dir, 'missing', 's.sock'), 'ERR_ADDRESS_NOT_AVAILABLE'],
      [file, 'ERR_ADDRESS_IN_USE'],
    ] as const) {
      expect(() => new UnixStreamServer(path, EchoHandler, { mode: 0o666 })).toThrow(
        expect.objectContaining({ code, path }),
      );
      expect(currentUmask()).toBe(0o027);
      await expect(
        new UnixDatagramServer(path, DatagramEchoHandler, { mode: 0o666 }).listening,
      ).rejects.toMatchObject({ code, path });
      expect(currentUmask()).toBe(0o027);
    }
    expect(readFileSync(file, 'utf8')).toBe('kept');
  });

  it('in a worker thread (no umask there), the file is chmod-ed to the mode: exact, over a stale file too', async () => {
    useUmask(0o077);
    const path = join(tempDir(), 's.sock');
    leaveStaleDatagramSocket(path);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import(workerData.coreUrl).then(async (core) => {
         class Quiet { setup() {} handle() {} finish() {} }
         try {
           const server = new core.UnixStreamServer(workerData.path, Quiet, { mode: 0o660 });
           await server.listening;
           const mode = require('node:fs').lstatSync(workerData.path).mode & 0o7777;
           await server.serverClose();
           parentPort.postMessage({ mode });
         } catch (error) {
           parentPort.postMessage({ error: String(error) });
         }
       });`,
      { eval: true, workerData: { coreUrl, path } },
    );
    onTestFinished(async () => {
      await worker.terminate();
    });
    const [answer] = (await within(once(worker, 'message'), 'the worker to bind', 20_000)) as [unknown];
    expect(answer).toEqual({ mode: 0o660 });
    expect(existsSync(path)).toBe(false);
    expect(currentUmask()).toBe(0o077);
  });

  it(
    'no chmod follows a symlink swapped in for the socket file: a file the path is pointed at keeps its mode (3000 binds raced by a swapping process)',
    {
      timeout: 60_000,
    },
    async () => {
      const dir = tempDir();
      const path = join(dir, 's.sock');
      const victim = join(dir, 'victim');
      writeFileSync(victim, 'private');
      chmodSync(victim, 0o600);
      // The attacker: as soon as a socket file is at the path, replace it (rename: atomic) with a
      // symlink to the victim, and say so; a chmod of the path after that changes the victim.
      const attacker = spawn(
        process.execPath,
        [
          '-e',
          `const fs = require('node:fs');
         const [path, victim] = process.argv.slice(1);
         const link = path + '.link';
         const deadline = Date.now() + 50_000;
         fs.symlinkSync(victim, link);
         process.stdout.write('ready\\n');
         while (Date.now() < deadline) {
           let isSocket = false;
           try { isSocket = fs.lstatSync(path).isSocket(); } catch {}
           if (!isSocket) continue;
           fs.renameSync(link, path);
           fs.symlinkSync(victim, link);
           process.stdout.write('swapped\\n');
         }`,
          path,
          victim,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      onTestFinished(() => void attacker.kill('SIGKILL'));
      const said = new Inbox<string>();
      createInterface({ input: attacker.stdout }).on('line', (line) => said.push(line));
      expect(await said.next(10_000, 'the attacker to start')).toBe('ready');
      const deadline = performance.now() + 30_000;
      let rounds = 0;
      for (; rounds < 3000 && performance.now() < deadline; rounds += 1) {
        const server = new UnixStreamServer(path, EchoHandler, { mode: 0o666, bindAndActivate: false });
        try {
          server.serverBind();
          expect(await said.next(10_000, 'the attacker to swap the socket file')).toBe('swapped');
          expect(statSync(victim).mode & 0o7777, `round ${rounds}`).toBe(0o600);
        } finally {
          await server.serverClose(); // removes the symlink at the path (libuv unlinks by name)
        }
        expect(existsSync(path)).toBe(false);
      }
      expect(rounds).toBeGreaterThanOrEqual(200);
      expect(statSync(victim).mode & 0o7777).toBe(0o600);
      expect(readFileSync(victim, 'utf8')).toBe('private');
    },
  );
});

describe('Unix socket paths: what a bind leaves', () => {
  it('a live owner found by the probe keeps its path, and no aside file is left', async () => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    const owner = new QuietServer(path, EchoHandler, { strategy: eventLoopStrategy() });
    onTestFinished(() => owner.serverClose());
    void owner.serveForever();
    expect(() => new UnixStreamServer(path, EchoHandler)).toThrow(
      expect.objectContaining({ code: 'ERR_ADDRESS_IN_USE', path }),
    );
    expect(readdirSync(dir)).toEqual(['s.sock']);
    expect((await roundTrip(path, Buffer.from('mine'))).toString()).toBe('mine');
  });
});
