// Did a change make the server slower? Compares echo-server at another git revision (built in a
// temporary worktree) with this working tree, by the server's CPU time per unit of work, which a
// busy machine disturbs far less than rates: the two run in turn, A B B A ..., each on the same
// fixed load (connections that each echo some 64-byte lines, then close), and the report gives each
// side's median CPU per connection and the ratio. Linux only (CPU from /proc).
//
//   node bench/src/compare-revisions.ts --base <rev> [--handler stream|raw|line]
//        [--connections 8000] [--lines 50] [--runs 8] [--keep]
//
// The worktree is installed offline from the pnpm store (`pnpm install --frozen-lockfile
// --offline`) and built, then removed at the end (`--keep` keeps it).
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllGroups, ManagedProcess } from './managed-process.ts';
import { sampleServerCpu } from './process-cpu.ts';
import { median } from './stats.ts';

const repository = fileURLToPath(new URL('../..', import.meta.url));
const pnpm = ['-y', 'pnpm@12.4.2'];
/** Connections open at once. */
const concurrency = 20;
const runningLine = /^Echo server running on port (\d+)$/;

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    handler: { type: 'string', default: 'stream' },
    connections: { type: 'string', default: '8000' },
    lines: { type: 'string', default: '50' },
    runs: { type: 'string', default: '8' },
    keep: { type: 'boolean', default: false },
  },
});
if (values.base === undefined) {
  process.stderr.write('compare-revisions: --base <git revision> is required\n');
  process.exit(2);
}
const connections = Number(values.connections);
const lines = Number(values.lines);
const runs = Number(values.runs);
for (const [name, value] of Object.entries({ connections, lines, runs })) {
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`compare-revisions: --${name} must be a positive integer\n`);
    process.exit(2);
  }
}

/** Server CPU per connection, in µs, of one run of `tree`'s echo-server. */
async function measure(tree: string): Promise<number> {
  const server = new ManagedProcess(
    process.execPath,
    [join(tree, 'apps/echo/bin/echo-server.js'), '--host', '127.0.0.1', '--port', '0', '--quiet'].concat(
      '--handler',
      values.handler,
    ),
    4096,
  );
  try {
    const port = Number(runningLine.exec(await server.nextLine(runningLine, 20_000))?.[1]);
    const payload = Buffer.from(`${'x'.repeat(63)}\n`.repeat(lines));
    const session = async (): Promise<void> => {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect', { signal: AbortSignal.timeout(10_000) });
      socket.end(payload);
      let received = 0;
      for await (const chunk of socket) received += (chunk as Buffer).length;
      if (received !== payload.length) throw new Error(`echoed ${received} of ${payload.length} bytes`);
    };
    const batch = async (count: number): Promise<void> => {
      for (let done = 0; done < count; done += concurrency) {
        await Promise.all(Array.from({ length: Math.min(concurrency, count - done) }, session));
      }
    };
    await batch(Math.min(500, connections)); // warm-up: the JIT, the first connections' allocations
    const before = sampleServerCpu([server.pid]).processSeconds[0] ?? 0;
    await batch(connections);
    const after = sampleServerCpu([server.pid]).processSeconds[0] ?? 0;
    return ((after - before) * 1e6) / connections;
  } finally {
    await server.stop(5_000);
  }
}

const worktree = join(mkdtempSync(join(tmpdir(), 'compare-')), 'base');
process.once('SIGINT', () => {
  killAllGroups();
  process.exit(130);
});
try {
  const run = (command: string, args: string[], cwd: string): void => {
    execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
  };
  process.stdout.write(`compare-revisions: building ${values.base} in ${worktree}\n`);
  run('git', ['worktree', 'add', '--detach', worktree, values.base], repository);
  run('npx', [...pnpm, 'install', '--frozen-lockfile', '--offline'], worktree);
  run('npx', [...pnpm, 'build'], worktree);
  const sides = { base: worktree, head: repository };
  const results: Record<keyof typeof sides, number[]> = { base: [], head: [] };
  for (let round = 0; round < runs; round += 1) {
    const order: (keyof typeof sides)[] = round % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
    for (const side of order) results[side].push(await measure(sides[side]));
  }
  const shown = (values: number[]): string => values.map((value) => value.toFixed(0)).join(' ');
  const load = `${connections} connections × ${lines} lines, --handler ${values.handler}, ${runs} runs each`;
  process.stdout.write(`server CPU per connection (µs), ${load}:\n`);
  process.stdout.write(
    `  ${values.base}: median ${median(results.base).toFixed(1)}  (${shown(results.base)})\n`,
  );
  process.stdout.write(
    `  working tree: median ${median(results.head).toFixed(1)}  (${shown(results.head)})\n`,
  );
  process.stdout.write(
    `  ratio working tree / base: ${(median(results.head) / median(results.base)).toFixed(3)}\n`,
  );
} finally {
  killAllGroups();
  if (!values.keep) {
    try {
      execFileSync('git', ['worktree', 'remove', '--force', worktree], { cwd: repository, stdio: 'ignore' });
    } catch {
      rmSync(worktree, { recursive: true, force: true });
    }
  }
}
