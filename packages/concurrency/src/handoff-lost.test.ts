// A connection handed to a worker thread while the process is out of file descriptors: Node drops
// the transfer's message, with no error on either side. The pool must notice and free the slot.
// Run in a child process under a low `ulimit -n`, whose main thread fills its descriptors.
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { openClient } from './test-support/test-clients.js';

const url = (path: string): string => pathToFileURL(fileURLToPath(new URL(path, import.meta.url))).href;

const script = `
import fs from 'node:fs';
const { TCPServer } = await import(${JSON.stringify(url('../../core/dist/index.js'))});
const { pool } = await import(${JSON.stringify(url('../dist/index.js'))});
const { CommandEchoHandler } = await import(${JSON.stringify(url('./test-support/command-echo-handler.ts'))});
const server = new TCPServer(['127.0.0.1', 0], CommandEchoHandler, { strategy: pool({ kind: 'thread', workers: 1 }) });
const held = [];
server.handleError = (_request, _address, error) => {
  console.log('ERROR ' + error.code + ' ' + error.message);
  isFilling = false;
  for (const fd of held.splice(0)) fs.closeSync(fd); // the descriptors back: the next one is served
};
let isFilling = false;
/** Take every descriptor left. */
const fill = () => {
  try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch {}
};
server.on('connectionState', ({ state }) => {
  // Accepted, not yet handed over: any descriptor freed since (the warm-up connection's, closed
  // late in its worker) is taken too, so the transfer finds none.
  if (state === 'new' && isFilling) fill();
  console.log('STATE ' + state);
});
void server.serveForever();
await server.listening;
// One connection served first: the worker thread is up, its handler module loaded.
const net = await import('node:net');
const warm = net.connect(server.port, '127.0.0.1');
warm.end('warm\\n');
for await (const _chunk of warm);
// Every descriptor taken but one: the accept gets it, and the transfer to the thread finds none.
fill();
fs.closeSync(held.pop());
isFilling = true;
console.log('READY ' + server.port);
`;

describe('a connection handed to a worker thread that never arrives', () => {
  it('is reported and its slot freed; the next connection is served', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'handoff-lost-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const file = join(directory, 'server.mjs');
    writeFileSync(file, script);
    const child = spawn('sh', ['-c', 'ulimit -n 128; exec "$0" "$1"', process.execPath, file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    onTestFinished(() => void child.kill('SIGKILL'));
    const lines: string[] = [];
    let partial = '';
    const changes = new EventEmitter();
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      changes.emit('line');
    });
    const lineMatching = async (pattern: RegExp): Promise<string> => {
      const signal = AbortSignal.timeout(10_000);
      for (;;) {
        const line = lines.find((candidate) => pattern.test(candidate));
        if (line !== undefined) return line;
        await once(changes, 'line', { signal });
      }
    };
    const port = Number(/^READY (\d+)$/.exec(await lineMatching(/^READY /))?.[1]);

    const lost = await openClient(port);
    await lost.sendAll('first\n');
    expect(await lineMatching(/^ERROR /)).toBe(
      'ERROR ERR_SEND_FAILED connection lost on its way to worker thread 1: it never arrived ' +
        '(the process may be out of file descriptors)',
    );
    const served = await openClient(port);
    await served.sendAll('second\n');
    expect((await served.readline()).toString()).toBe('second\n');
  });
});
