// The first example of each package README (what npm shows first) runs as printed: its code
// blocks are written to files beside this one (so they import the workspace's packages), the port
// 20000 replaced with a free one, and run with Node; a client checks the echo.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it, onTestFinished } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));

/** The code blocks of the README's `## Example` section, in order, with the file each names (`// name.ts`). */
function exampleBlocks(readme: string): { name: string | undefined; code: string }[] {
  const text = readFileSync(join(here, '..', readme), 'utf8');
  const section = text.slice(
    text.indexOf('## Example'),
    text.indexOf('\n## ', text.indexOf('## Example') + 1),
  );
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map(([, code = '']) => ({
    name: /^\/\/ ([\w-]+\.ts)\n/.exec(code)?.[1],
    code,
  }));
}

/** A port nobody listens on now. */
async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

/** Write `blocks` (20000 made `port`) to a fresh directory beside this file; the path of `main`. */
function writeBlocks(
  blocks: { name: string | undefined; code: string }[],
  port: number,
  main: string,
): string {
  const directory = mkdtempSync(join(here, '.readme-'));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  for (const [index, { name, code }] of blocks.entries()) {
    writeFileSync(
      join(directory, name ?? (index === 0 ? main : `block-${index}.ts`)),
      code.replaceAll('20000', String(port)),
    );
  }
  return join(directory, main);
}

/** Connect and echo one line. */
async function echoes(port: number): Promise<string> {
  await using s = await connect('127.0.0.1', port, { timeoutMs: 5000 });
  await s.sendAll('Hello\n');
  return (await s.readline({ timeoutMs: 5000 })).toString();
}

/**
 * Loaded with `--import` before an example: prints `listening` once a server listens (Node's own
 * `net.server.listen` tracing channel), the line a test waits for, as the examples print none.
 */
const announceListening = `data:text/javascript,${encodeURIComponent(
  "import dc from 'node:diagnostics_channel';" +
    "dc.subscribe('tracing:net.server.listen:asyncEnd', () => console.log('listening'));",
)}`;

describe.each([
  ['packages/core/README.md', 1],
  ['packages/handlers/README.md', 1],
  ['packages/concurrency/README.md', 2],
])('%s', (readme, blocks) => {
  it('starts with an echo server that runs as printed', async () => {
    const port = await freePort();
    const main = writeBlocks(exampleBlocks(readme).slice(0, blocks), port, 'server.ts');
    const server = ServerProcess.start(process.execPath, ['--import', announceListening, main]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    await server.waitForLine('listening', { timeoutMs: 10_000 });
    expect(await echoes(port)).toBe('Hello\n');
  });
});

describe('packages/client/README.md', () => {
  it('starts with a client session that runs as printed', async () => {
    const echo = net.createServer((socket) => socket.pipe(socket)).listen(0, '127.0.0.1');
    onTestFinished(() => void echo.close());
    await once(echo, 'listening');
    const { port } = echo.address() as net.AddressInfo;
    const main = writeBlocks(exampleBlocks('packages/client/README.md').slice(0, 1), port, 'client.ts');
    const client = ServerProcess.start(process.execPath, [main]);
    onTestFinished(() => client[Symbol.asyncDispose]());
    expect(await client.waitForExit()).toEqual({ code: 0, signal: null });
    expect(client.stdout).toBe('Response: Hello\n\n');
  });
});
