import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  closedPort,
  replClientBin,
  startEchoServer,
  startRawServer,
  startUDPServer,
  startUnixDatagramServer,
  startUnixStreamEchoServer,
  temporaryDirectory,
  type EchoServer,
} from './test-support/servers.js';
import { TmuxSession } from './test-support/tmux-session.js';

let echoServer: EchoServer;
let stateHome: string;

beforeAll(async () => {
  echoServer = await startEchoServer();
  stateHome = await mkdtemp(join(tmpdir(), 'repl-client-state-'));
});

afterAll(async () => {
  await echoServer[Symbol.asyncDispose]();
  await rm(stateHome, { recursive: true, force: true });
});

/**
 * Starts repl-client in a 120x40 terminal and waits for its first prompt. History goes to
 * `historyFile` (none by default), or with `historyFile: 'xdg'` to the default place under
 * $XDG_STATE_HOME.
 */
async function startRepl(
  args: readonly string[],
  options: { historyFile?: string } = {},
): Promise<TmuxSession> {
  const { historyFile = '' } = options;
  const session = await TmuxSession.start(
    [process.execPath, replClientBin, ...args],
    historyFile === 'xdg'
      ? { env: { XDG_STATE_HOME: stateHome, NO_COLOR: '1' }, unsetEnv: ['SOCKETSERVER_REPL_HISTORY'] }
      : { env: { SOCKETSERVER_REPL_HISTORY: historyFile, NO_COLOR: '1' } },
  );
  onTestFinished(() => session[Symbol.asyncDispose]());
  await session.waitForScreen(/^>$/m);
  return session;
}

/** Types `line`, presses Enter and waits until the screen ends with it, its output lines and a new prompt. */
async function run(session: TmuxSession, line: string, ...outputLines: string[]): Promise<string> {
  await session.enter(line);
  const ending = [`> ${line}`, ...outputLines, '>'].join('\n');
  return session.waitForScreen((screen) => screen.endsWith(ending));
}

function expectNoStackTrace(screen: string): void {
  expect(screen).not.toMatch(/^\s+at /m);
}

/** `text` as a pattern that matches it literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Enters `line`, a command that waits, and presses Ctrl-C once it hangs, as a person would: see the
 * Ctrl-C test below for why the wait for raw mode comes first.
 */
async function interrupt(session: TmuxSession, line: string): Promise<void> {
  await session.enter(line);
  await session.waitForCursorLine('');
  await session.waitForRaw();
  await session.press('C-c');
}

describe('repl-client, the REPL', () => {
  it("runs the recipe's session against the echo server, then Ctrl-D exits 0", async () => {
    const session = await startRepl([]);
    expect(await session.screen()).toContain("Connect with: const s = await connect('localhost', 20000)");

    const { port } = echoServer;
    await run(session, `const s = await connect('localhost', ${port})`);
    await run(session, "await s.send('Hello\\n')", '6');
    await run(session, 'const resp = await s.recv(8192)');
    await run(session, "console.log('Response:', resp)", "Response: b'Hello\\n'");
    await run(session, 'console.log(`Response: ${repr(resp)}`)', "Response: b'Hello\\n'");
    await run(session, 'resp', "b'Hello\\n'");
    await run(session, 's.close()', 'Promise { <pending> }');
    await session.enter('s');
    await session.waitForScreen(
      new RegExp(`^> s\\n<connection to localhost:${port} from \\S+, closed>\\n>$`, 'm'),
    );

    await session.press('C-d');
    expect(await session.waitForExit()).toBe(0);
  });

  it("shows Buffers in results and console.log as bytes literals, nested too; util.inspect and Buffer.prototype stay Node's", async () => {
    const session = await startRepl([]);
    await run(session, "const b = Buffer.from('Hello\\n')");
    await run(session, 'b', "b'Hello\\n'");
    await run(
      session,
      '({ reply: b, parts: [b, 42] })',
      "{ reply: b'Hello\\n', parts: [ b'Hello\\n', 42 ] }",
    );
    await run(session, 'console.log([b], { b })', "[ b'Hello\\n' ] { b: b'Hello\\n' }");
    // The REPL patches nothing of Node's: the process inspects Buffers as Node does.
    await run(session, 'util.inspect(b)', "'<Buffer 48 65 6c 6c 6f 0a>'");
    await run(session, 'Buffer.prototype[util.inspect.custom] === Buffer.prototype.inspect', 'true');
    await run(session, 'Object.getOwnPropertySymbols(b).length', '0');
    await run(session, 'Promise.resolve(42)', 'Promise { 42 }');
  });

  it('connects at start when given host and port, completes s.re with Tab, and lists the API in .help', async () => {
    const session = await startRepl(['localhost', String(echoServer.port)]);
    expect(await session.screen()).toMatch(
      new RegExp(`^Connected to localhost:${echoServer.port} from \\S+, as s\\.$`, 'm'),
    );

    // Tab twice lists the candidates. Like a person, look at what was typed before pressing Tab:
    // readline takes a Tab that arrives in one read with other keys as pasted text, not as Tab.
    let screen = '';
    for (let attempt = 0; attempt < 3 && !screen.includes('s.recvUntilClosed'); attempt += 1) {
      await session.press('C-u');
      await session.type('s.re');
      await session.waitForCursorLine('> s.re');
      await session.press('Tab');
      await session.press('Tab');
      screen = await session.waitForScreen('s.recvUntilClosed', { timeoutMs: 1000 }).catch(() => '');
    }
    for (const method of ['s.recv', 's.readline', 's.recvExactly', 's.recvUntilClosed']) {
      expect(screen).toMatch(new RegExp(`(^|\\s)${method.replace('.', '\\.')}(\\s|$)`, 'm'));
    }
    // One candidate left: Tab completes it in place.
    await session.type('cvU');
    // The REPL previews the only completion in grey after the cursor.
    await session.waitForCursorLine(/^> s\.recvU( \/\/ ntilClosed)?$/);
    await session.press('Tab');
    await session.waitForCursorLine('> s.recvUntilClosed');
    await session.press('C-u');

    await run(session, "await s.send('Hi\\n')", '3');
    await run(session, 'await s.readline()', "b'Hi\\n'");

    await session.enter('.help');
    screen = await session.waitForScreen(/Ctrl-D exits\.\n>$/);
    for (const entry of [
      'connect(host, port, options)',
      'connectUnix(path, options)',
      'openUDP(options)',
      'openUnixDatagram(options)',
      's.recv(maxBytes)',
      's.sendTo(data, address)',
      's.recvFrom()',
      'DatagramClient',
      'repr(bytes)',
      '.client',
      '.exit',
    ]) {
      expect(screen).toContain(entry);
    }
    await session.enter('.client');
    await session.waitForScreen(
      new RegExp(`^> \\.client\\n#1 localhost:${echoServer.port} from \\S+, open\\n>$`, 'm'),
    );
  });

  it('Ctrl-C cancels a recv waiting on a silent server; the connection lives on; Ctrl-C twice exits 0', async () => {
    await using silentServer = await startRawServer();
    const session = await startRepl(['127.0.0.1', String(silentServer.port)]);
    const serverSide = await silentServer.firstConnection();

    await session.enter('await s.recv(10)');
    // Press Ctrl-C once the command hangs, as a person would: Enter was taken (the cursor is on
    // the line below) and the REPL reads keys in raw mode again, so the command's synchronous part
    // is over and it awaits the recv (whose default timeout is 10 s). Before that, a Ctrl-C is a
    // SIGINT that interrupts the command itself.
    await session.waitForCursorLine('');
    await session.waitForRaw();
    expect(await session.screen()).toMatch(/^> await s\.recv\(10\)$(?![\s\S]*^>)/m);
    await session.press('C-c');
    const screen = await session.waitForScreen(
      `> await s.recv(10)\nUncaught ClientError [ERR_ABORTED]: recv() on 127.0.0.1:${silentServer.port} was aborted\n>`,
      { timeoutMs: 2000 },
    );
    expectNoStackTrace(screen);

    const received = once(serverSide, 'data', { signal: AbortSignal.timeout(5000) });
    await run(session, "await s.send('still here\\n')", '11');
    expect(String(await received)).toBe('still here\n');
    serverSide.write('late\n');
    await run(session, 'await s.recv(10)', "b'late\\n'");

    await session.press('C-c');
    await session.waitForScreen('(To exit, press Ctrl+C again or Ctrl+D or type .exit)');
    await session.press('C-c');
    expect(await session.waitForExit()).toBe(0);
  });

  it('prints refused (also at start), timeout and reset errors as one line each, and lives on', async () => {
    const refusedPort = await closedPort();
    await using silentServer = await startRawServer();
    await using resettingServer = await startRawServer((socket) =>
      socket.once('data', () => socket.resetAndDestroy()),
    );
    // Refused at start: one line, and the REPL starts without `s`; connect() retries that address.
    const session = await startRepl(['127.0.0.1', String(refusedPort)]);
    expect(await session.screen()).toContain(
      `ClientError [ERR_CONNECTION_REFUSED]: Connection refused by 127.0.0.1:${refusedPort}\n` +
        `Connect with: const s = await connect('127.0.0.1', ${refusedPort})\n>`,
    );
    await run(
      session,
      'await connect()',
      `Uncaught ClientError [ERR_CONNECTION_REFUSED]: Connection refused by 127.0.0.1:${refusedPort}`,
    );
    await run(session, `const quiet = await connect('127.0.0.1', ${silentServer.port})`);
    await run(
      session,
      'await quiet.recv(10, { timeoutMs: 300 })',
      `Uncaught ClientError [ERR_TIMEOUT]: recv() on 127.0.0.1:${silentServer.port} timed out after 300 ms`,
    );
    await run(session, `const rude = await connect('127.0.0.1', ${resettingServer.port})`);
    await run(session, "await rude.send('boom\\n')", '5');
    const screen = await run(
      session,
      'await rude.recv(10)',
      `Uncaught ClientError [ERR_CONNECTION_RESET]: Connection reset by 127.0.0.1:${resettingServer.port}`,
    );
    expectNoStackTrace(screen);
    await run(session, '1 + 1', '2');
  });

  it('keeps its history under $XDG_STATE_HOME and loads it in the next session', async () => {
    const historyFile = join(stateHome, 'socketserver', 'repl_history');
    const first = await startRepl([], { historyFile: 'xdg' });
    await run(first, '1 + 41', '42');
    await run(first, "'history ' + 'works'", "'history works'");
    await first.press('C-d');
    expect(await first.waitForExit()).toBe(0);
    // Newest first, one entry a line.
    expect((await readFile(historyFile, 'utf8')).split('\n')).toEqual(["'history ' + 'works'", '1 + 41']);

    const second = await startRepl([], { historyFile: 'xdg' });
    await second.press('Up');
    await second.waitForCursorLine("> 'history ' + 'works'");
    await second.press('Up');
    await second.waitForCursorLine('> 1 + 41');
    await second.press('Enter');
    await second.waitForScreen((screen) => screen.endsWith('> 1 + 41\n42\n>'));
  });
});

describe('repl-client, the REPL over Unix and datagram sockets', () => {
  it('--protocol udp: s is a UDP socket and target the server; sendTo, recvFrom, and Ctrl-C cancels recvFrom', async () => {
    await using server = await startUDPServer();
    const session = await startRepl(['--protocol', 'udp', '127.0.0.1', String(server.port)]);
    const start = await session.screen();
    const opened = new RegExp(
      `^Opened a UDP socket at 0\\.0\\.0\\.0:(\\d+), as s; the server is target = \\['127\\.0\\.0\\.1', ${server.port}\\]\\.$`,
      'm',
    ).exec(start);
    expect(opened).not.toBeNull();
    const localPort = opened?.[1] ?? '';
    expect(start).toContain(
      "Send and receive with: await s.sendTo('Hello\\n', target)   await s.recvFrom()\n>",
    );

    await run(session, "await s.sendTo('Hello\\n', target)");
    await run(session, 'await s.recvFrom()', `[ b'Hello\\n', [ '127.0.0.1', ${server.port} ] ]`);
    expect(server.received.map(String)).toEqual(['Hello\n']);

    await interrupt(session, 'await s.recvFrom()');
    const screen = await session.waitForScreen(
      `> await s.recvFrom()\nUncaught ClientError [ERR_ABORTED]: recvFrom() on 0.0.0.0:${localPort} was aborted\n>`,
      { timeoutMs: 2000 },
    );
    expectNoStackTrace(screen);

    // The socket lives on: the recipe's session, with datagrams.
    await run(session, "await s.sendTo('Hello again\\n', ['localhost', target[1]])");
    await run(session, 'const [resp, address] = await s.recvFrom()');
    await run(
      session,
      "console.log('Response:', resp, 'from', address)",
      `Response: b'Hello again\\n' from [ '127.0.0.1', ${server.port} ]`,
    );
    await session.enter('.client');
    await session.waitForScreen(`> .client\n#1 UDP socket at 0.0.0.0:${localPort}, open\n>`);
    await run(session, 's', `<UDP socket at 0.0.0.0:${localPort}, open>`);

    await session.press('C-d');
    expect(await session.waitForExit()).toBe(0);
  });

  it('--unix: connects to a Unix stream server as s; connectUnix and openUnixDatagram are in scope', async () => {
    await using streamServer = await startUnixStreamEchoServer();
    await using datagramServer = await startUnixDatagramServer();
    const session = await startRepl(['--unix', streamServer.path]);
    expect(await session.screen()).toContain(`Connected to ${streamServer.path}, as s.\n>`);

    await run(session, "await s.send('Hello\\n')", '6');
    await run(session, 'await s.recv(8192)', "b'Hello\\n'");
    await run(session, 'const again = await connectUnix()');
    await run(session, 'const d = await openUnixDatagram()');
    await run(session, `await d.sendTo('ping\\n', '${datagramServer.path}')`);
    await run(session, 'await d.recvFrom()', `[ b'ping\\n', '${datagramServer.path}' ]`);

    await session.enter('.client');
    const path = literal(streamServer.path);
    const screen = await session.waitForScreen(
      new RegExp(
        `^> \\.client\\n#1 ${path}, open\\n#2 ${path}, open\\n#3 Unix datagram socket at (\\S+), open\\n>$`,
        'm',
      ),
    );
    const clientPath = /^#3 Unix datagram socket at (\S+), open$/m.exec(screen)?.[1] ?? '';
    expect(existsSync(clientPath)).toBe(true);

    // Exiting closes every socket, and removes the datagram socket's temporary directory.
    await session.press('C-d');
    expect(await session.waitForExit()).toBe(0);
    expect(existsSync(dirname(clientPath))).toBe(false);
  });

  it('--unix: a missing socket at start prints one line and how to connect; so does connectUnix()', async () => {
    await using directory = await temporaryDirectory();
    const path = join(directory.path, 'missing.sock');
    const session = await startRepl(['--unix', path]);
    expect(await session.screen()).toContain(
      `ClientError [ERR_CONNECTION_REFUSED]: Connection refused by ${path}: no such file\n` +
        `Connect with: const s = await connectUnix('${path}')\n>`,
    );
    // Node's REPL puts "Uncaught:" on a line of its own before an error line longer than 80 columns.
    const screen = await run(
      session,
      'await connectUnix()',
      'Uncaught:',
      `ClientError [ERR_CONNECTION_REFUSED]: Connection refused by ${path}: no such file`,
    );
    expectNoStackTrace(screen);
  });

  it('--protocol udp without a server: hints how to open a socket', async () => {
    const session = await startRepl(['--protocol', 'udp']);
    const hint =
      "const s = await openUDP()   then: await s.sendTo('Hello\\n', ['localhost', 20000])   await s.recvFrom()";
    expect(await session.screen()).toContain(`Open one with: ${hint}\n>`);
    await session.enter('.client');
    await session.waitForScreen(`> .client\nNo connection yet: ${hint}\n>`);
    await run(session, 'typeof target', "'undefined'");
  });
});
