// What the bench measures: the servers, the scenarios, and which servers share a process.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ServerSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The row of the recipe's Python server this one is compared with. */
  readonly pythonPeer?: string;
}

export interface Scenario {
  readonly id: 'a' | 'b' | 'c';
  readonly title: string;
  readonly description: string;
  readonly loadArgs: readonly string[];
  /** The rows the ratio columns divide by. */
  readonly asyncName: string;
  readonly rawName: string;
}

/** Servers measured under each of `scenarios`, one server process for all of them. */
export interface Suite {
  readonly servers: readonly ServerSpec[];
  readonly scenarios: readonly Scenario[];
}

const node = process.execPath;
const path = (relative: string): string => fileURLToPath(new URL(relative, import.meta.url));
const rawEcho = path('../baselines/raw-net-echo.ts');
const echoServer = fileURLToPath(
  new URL('bin/echo-server.js', import.meta.resolve('@socketserver/echo/package.json')),
);
export const pythonRuntime = findPython();
const python = {
  serial: 'Python TCPServer',
  threading: 'Python ThreadingTCPServer',
  pool: 'Python pool (16 threads)',
} as const;

/** The real python3 executable (not a version manager's shim, whose start-up would add to every run). */
function findPython(): { executable: string; version: string } {
  try {
    const script = 'import sys, platform; print(sys.executable); print(platform.python_version())';
    const output = execFileSync('python3', ['-c', script], { encoding: 'utf8' });
    const [executable = 'python3', version = '?'] = output.trim().split('\n');
    return { executable, version: `Python ${version}` };
  } catch {
    return { executable: 'python3', version: 'python3 not found' }; // the Python rows fail and say why
  }
}

function pythonServers(cpu: boolean): ServerSpec[] {
  return (['serial', 'threading', 'pool'] as const).map((kind) => ({
    name: python[kind],
    command: pythonRuntime.executable,
    args: [path('../baselines/python_echo.py'), kind, ...(cpu ? ['--cpu'] : [])],
  }));
}

/** `name` runs `script` with `args` on this Node.js; `pythonPeer`, if any, is its Python counterpart. */
function nodeServer(name: string, script: string, args: string[], pythonPeer?: string): ServerSpec {
  return {
    name,
    command: node,
    args: [script, ...args],
    ...(pythonPeer === undefined ? {} : { pythonPeer }),
  };
}

const echo = (strategy: string, pythonPeer?: string): ServerSpec =>
  nodeServer(`echo ${strategy}`, echoServer, ['--port', '0', '--quiet', '--strategy', strategy], pythonPeer);
const cpuEcho = (label: string, args: string[], pythonPeer?: string): ServerSpec =>
  nodeServer(`cpu-echo ${label}`, path('../servers/cpu-echo.ts'), ['--port', '0', ...args], pythonPeer);

export const suites: readonly Suite[] = [
  {
    servers: [
      echo('serial', python.serial),
      echo('async'),
      echo('thread', python.threading),
      echo('fork'),
      echo('pool', python.pool),
      nodeServer('node:net', rawEcho, []),
      ...pythonServers(false),
    ],
    scenarios: [
      {
        id: 'a',
        title: '(a) Connection rate, plain echo',
        description: '16 loops, each: connect, send `ping\\n`, read the echo, close. Connections per second.',
        loadArgs: ['--mode', 'connections', '--connections', '16'],
        asyncName: 'echo async',
        rawName: 'node:net',
      },
      {
        id: 'b',
        title: '(b) Throughput, plain echo',
        description:
          '50 clients pipelining 64-byte lines, 16 outstanding each. Lines and MB echoed per second.',
        loadArgs: ['--mode', 'throughput', '--connections', '50', '--window', '16', '--line-bytes', '64'],
        asyncName: 'echo async',
        rawName: 'node:net',
      },
    ],
  },
  {
    servers: [
      cpuEcho('serial', ['--strategy', 'serial'], python.serial),
      cpuEcho('async', ['--strategy', 'async']),
      cpuEcho('thread', ['--strategy', 'thread'], python.threading),
      cpuEcho('fork', ['--strategy', 'fork']),
      cpuEcho('pool (threads)', ['--strategy', 'pool', '--pool-kind', 'thread'], python.pool),
      cpuEcho('pool (processes)', ['--strategy', 'pool', '--pool-kind', 'process']),
      nodeServer('node:net', rawEcho, ['--hash-rounds', '1000']),
      ...pythonServers(true),
    ],
    scenarios: [
      {
        id: 'c',
        title: '(c) Throughput, CPU-bound handler',
        description:
          '16 clients pipelining 64-byte lines, 4 outstanding each; the server hashes each line 1,000 times ' +
          '(sha256, chained) before echoing it. Lines per second.',
        loadArgs: ['--mode', 'throughput', '--connections', '16', '--window', '4', '--line-bytes', '64'],
        asyncName: 'cpu-echo async',
        rawName: 'node:net',
      },
    ],
  },
];
