import { EventEmitter, once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { describeError } from './base-server.js';
import type { ClientAddress } from '../support/client-address.js';
import { BindError, ConnectionClosedError, SocketServerError } from '../support/errors.js';
import { validateUnixPath } from '../platform/server-address.js';
import { DatagramHandler, tempDir, UnixDgramClient } from '../test-support/socket-helpers.js';
import { EchoHandler } from '../test-support/test-handlers.js';
import { UnixDatagramServer } from './unix-datagram-server.js';
import { UnixStreamServer } from './unix-stream-server.js';

/** A newline to forge a line, and an escape sequence that clears the screen. */
const hostile = 'evil\n\x1b[2J.sock';
/** How every message and line shows it. */
const hostileShown = 'evil\\n\\x1b[2J.sock';
/**
 * What no printed line may hold: a control (Cc is exactly C0, a newline too, DEL and C1), U+2028,
 * U+2029, bidi overrides and isolates.
 */
const controls = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** Lines written to stderr while the test runs (not printed); `next()` waits for one, bounded. */
function captureStderr(): { lines: string[]; next: () => Promise<void> } {
  const lines: string[] = [];
  const written = new EventEmitter();
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    lines.push(String(chunk));
    written.emit('line');
    return true;
  });
  onTestFinished(() => spy.mockRestore());
  return {
    lines,
    next: async () => {
      await once(written, 'line', { signal: AbortSignal.timeout(5000) });
    },
  };
}

describe('default handleError over a Unix datagram socket', () => {
  it("prints a sender's path with a newline and an escape sequence escaped, on one line; the handler gets it raw", async () => {
    const dir = tempDir();
    const seen: ClientAddress[] = [];
    class Failing extends DatagramHandler {
      override handle(): void {
        seen.push(this.clientAddress);
        throw new Error('boom\nForged: line');
      }
    }
    const stderr = captureStderr();
    const server = new UnixDatagramServer(join(dir, 's.sock'), Failing);
    onTestFinished(() => server.serverClose());
    await server.listening;
    void server.serveForever();
    const written = stderr.next();
    const clientPath = join(dir, hostile);
    await new UnixDgramClient(clientPath).send('Hello', server.serverAddress);
    await written;
    expect(seen).toEqual([{ family: 'Unix', path: clientPath }]);
    expect(stderr.lines).toEqual([
      `Error handling request from '${join(dir, hostileShown)}': Error: boom\\nForged: line\n`,
    ]);
  });

  it('names a destination path escaped when a send fails (ERR_SEND_FAILED)', async () => {
    const dir = tempDir();
    const failures: unknown[] = [];
    class SendingAway extends DatagramHandler {
      override async handle(): Promise<void> {
        await this.request[1].sendTo(Buffer.from('x'), join(dir, hostile)).catch((error: unknown) => {
          failures.push(error);
        });
        await this.request[1].sendTo(Buffer.from('done'), this.clientAddress);
      }
    }
    const server = new UnixDatagramServer(join(dir, 's.sock'), SendingAway);
    onTestFinished(() => server.serverClose());
    await server.listening;
    void server.serveForever();
    const client = new UnixDgramClient(join(dir, 'c.sock'));
    expect((await client.request('go', server.serverAddress)).data.toString()).toBe('done');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'ERR_SEND_FAILED' });
    const { message } = failures[0] as Error;
    expect(message).toContain(`cannot send to ${join(dir, hostileShown)}: `);
    expect(message).not.toMatch(controls);
  });
});

describe('error messages naming a path', () => {
  it('ERR_ADDRESS_IN_USE names a Unix path escaped; its path property stays raw', async () => {
    const dir = tempDir();
    const path = join(dir, hostile);
    const live = new UnixStreamServer(path, EchoHandler);
    onTestFinished(() => live.serverClose());
    await live.listening;
    let caught: unknown;
    try {
      new UnixStreamServer(path, EchoHandler);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BindError);
    expect(caught).toMatchObject({ code: 'ERR_ADDRESS_IN_USE', path });
    expect((caught as Error).message).toBe(
      `cannot listen on ${join(dir, hostileShown)}: address already in use (a live server owns it)`,
    );
  });

  it('a refused path (a NUL in it, too long) is named escaped', () => {
    expect(() => validateUnixPath('/tmp/a\0b\n')).toThrow("invalid path: '/tmp/a\\x00b\\n'");
    let message = '';
    try {
      validateUnixPath(`/tmp/\x1b[2J${'x'.repeat(200)}`);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^invalid path: \/tmp\/\\x1b\[2Jx+\.\.\. \(209 bytes\)/);
    expect(message).not.toMatch(controls);
  });
});

describe('describeError', () => {
  it("escapes another error's message: one line, whatever it holds", () => {
    expect(describeError(new Error('a\nb\x1b[2J'))).toBe('Error: a\\nb\\x1b[2J');
    expect(describeError(new TypeError('C:\\dir'))).toBe('TypeError: C:\\\\dir');
    const system = Object.assign(new Error('connect failed /tmp/x\n'), { code: 'ENOENT' });
    expect(describeError(system)).toBe('ENOENT: connect failed /tmp/x\\n');
    expect(describeError('thrown\u2028text')).toBe('thrown\\u2028text');
  });

  it("keeps this library's messages as made: a path escaped in them is not escaped twice", () => {
    const bind = new BindError('/tmp/a\\b\n', Object.assign(new Error('in use'), { code: 'EADDRINUSE' }));
    expect(bind.message).toBe('cannot listen on /tmp/a\\\\b\\n: address already in use');
    expect(describeError(bind)).toBe(`ERR_ADDRESS_IN_USE: ${bind.message}`);
  });

  it('escapes a SocketServerError made by hand with a control character in it', () => {
    expect(describeError(new ConnectionClosedError('closed\nForged'))).toBe(
      'ERR_CONNECTION_CLOSED: closed\\nForged',
    );
    expect(describeError(new SocketServerError('ERR_SEND_FAILED', 'a\\b\x85'))).toBe(
      'ERR_SEND_FAILED: a\\\\b\\x85',
    );
  });
});
