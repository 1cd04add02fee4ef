// node-unix-socket is an optional peer dependency: core works without it, and only what needs it
// (UnixDatagramServer, notifySystemd) says, in one line, how to install it. Run in a child process
// whose module hooks make the package missing, as it is for a user who never installed it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';

const coreEntry = pathToFileURL(fileURLToPath(new URL('../../dist/index.js', import.meta.url))).href;

/** Hide node-unix-socket from every require and import of the process. */
const hideNativePackage = `
import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'node-unix-socket') {
      throw Object.assign(new Error("Cannot find module 'node-unix-socket'"), { code: 'MODULE_NOT_FOUND' });
    }
    return nextResolve(specifier, context);
  },
});
`;

/** Run `body` (an ES module's code, with `core` imported) in a child without node-unix-socket; its stdout. */
async function runWithoutNativePackage(body: string): Promise<string> {
  const script = `${hideNativePackage}\nconst core = await import(${JSON.stringify(coreEntry)});\n${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onTestFinished(() => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const [code] = (await once(child, 'exit', { signal: AbortSignal.timeout(10_000) })) as [number | null];
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return stdout;
}

describe('without node-unix-socket installed', () => {
  it('core loads, and a TCP server serves', async () => {
    const output = await runWithoutNativePackage(`
      const net = await import('node:net');
      class Echo {
        constructor(request) { this.request = request; }
        setup() {}
        async handle() { for await (const chunk of this.request) this.request.write(chunk); }
        finish() {}
      }
      const server = new core.TCPServer(['127.0.0.1', 0], Echo, { strategy: core.eventLoopStrategy() });
      void server.serveForever();
      await server.listening;
      const client = net.connect(server.port, '127.0.0.1');
      client.end('Hello\\n');
      let echoed = '';
      for await (const chunk of client) echoed += chunk;
      process.stdout.write(echoed);
      await server.serverClose();
    `);
    expect(output).toBe('Hello\n');
  });

  it('a Unix datagram server fails in one line that says how to install it', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'no-native-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const output = await runWithoutNativePackage(`
      class Nothing { setup() {} handle() {} finish() {} }
      const server = new core.UnixDatagramServer(${JSON.stringify(join(directory, 'dgram.sock'))}, Nothing);
      const error = await server.listening.then(() => undefined, (failure) => failure);
      process.stdout.write(JSON.stringify({ code: error?.code, message: error?.message }));
      await server.serverClose();
    `);
    expect(JSON.parse(output)).toEqual({
      code: 'ERR_UNSUPPORTED_OPTION',
      message:
        'Unix datagram sockets is not supported here: they need the node-unix-socket package, an ' +
        'optional peer dependency: npm install node-unix-socket',
    });
  });

  it('notifySystemd fails the same way, only when there is a NOTIFY_SOCKET to notify', async () => {
    const output = await runWithoutNativePackage(`
      delete process.env.NOTIFY_SOCKET;
      const quiet = await core.notifySystemd('READY=1');
      process.env.NOTIFY_SOCKET = '/run/systemd/notify-test-none';
      const error = await Promise.resolve().then(() => core.notifySystemd('READY=1')).then(() => undefined, (failure) => failure);
      process.stdout.write(JSON.stringify({ quiet, code: error?.code }));
    `);
    expect(JSON.parse(output)).toEqual({ quiet: false, code: 'ERR_UNSUPPORTED_OPTION' });
  });
});
