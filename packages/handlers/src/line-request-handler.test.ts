import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { RequestHandlerClass } from '@socketserver/core';
import { LineRequestHandler, type LineReply } from './line-request-handler.js';
import { codesOf, startTestServer } from './test-support/start-test-server.js';
import { TestConnection } from './test-support/test-connection.js';

/** A small line protocol: replies now, later, as a string, not at all, or ends the connection. */
class CommandHandler extends LineRequestHandler {
  static override maxLineLength = 32;

  override handleLine(line: Buffer): LineReply | Promise<LineReply> {
    const [command = '', argument = ''] = line.toString().trim().split(' ');
    switch (command) {
      case 'ECHO':
        return line;
      case 'LATER':
        // Waits a macrotask, so lines after it are buffered by then: their replies must wait too.
        return nextMacrotask().then(() => `later ${argument}\n`);
      case 'SILENT':
        return undefined;
      case 'DIRECT':
        this.request.socket.write(`direct ${argument}\n`);
        return `reply ${argument}\n`;
      case 'BODY':
        // A body of known length after the line, read through rfile.
        return this.rfile.read(Number(argument)).then((body) => `body ${body.toString()}\n`);
      case 'THROW':
        throw new Error('handleLine failed');
      case 'QUIT':
        this.endConnection();
        return 'bye\n';
      default:
        return `unknown ${command}\n`;
    }
  }
}

async function exchange(Handler: RequestHandlerClass, input: string, handlerOptions = {}) {
  const server = await startTestServer(Handler, { handlerOptions });
  const client = await TestConnection.open(server.port);
  client.socket.end(input);
  return { server, received: (await client.waitForEnd()).toString() };
}

describe('LineRequestHandler', () => {
  it('replies to pipelined lines in order, waiting replies included', async () => {
    const input = 'ECHO 1\nLATER 2\nSILENT\nECHO 3\nLATER 4\nLATER 5\nfoo\nECHO 6\n';
    const { server, received } = await exchange(CommandHandler, input);
    expect(received).toBe('ECHO 1\nlater 2\nECHO 3\nlater 4\nlater 5\nunknown foo\nECHO 6\n');
    expect(server.errors).toEqual([]);
  });

  it('keeps the order of replies and direct socket writes', async () => {
    const { received } = await exchange(CommandHandler, 'ECHO 1\nDIRECT 2\nECHO 3\n');
    expect(received).toBe('ECHO 1\ndirect 2\nreply 2\nECHO 3\n');
  });

  it('lets handleLine read a body through rfile', async () => {
    const { received } = await exchange(CommandHandler, 'BODY 6\nhello\nECHO after\n');
    expect(received).toBe('body hello\n\nECHO after\n');
  });

  it('handles the final line at EOF without its newline', async () => {
    const { received } = await exchange(CommandHandler, 'ECHO 1\nECHO last');
    expect(received).toBe('ECHO 1\nECHO last');
  });

  it('ends the connection after endConnection(), its reply sent, later lines dropped', async () => {
    const { server, received } = await exchange(CommandHandler, 'ECHO 1\nQUIT\nECHO never\n');
    expect(received).toBe('ECHO 1\nbye\n');
    expect(server.errors).toEqual([]);
  });

  it('ends the connection with ERR_LINE_TOO_LONG past maxLineLength, after the replies before it', async () => {
    const { server, received } = await exchange(CommandHandler, `ECHO 1\n${'x'.repeat(33)}\nECHO 2\n`);
    expect(received).toBe('ECHO 1\n');
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_LINE_TOO_LONG']);
  });

  it('takes maxLineLength from handlerOptions', async () => {
    const { server, received } = await exchange(CommandHandler, 'ECHO 1\nECHO 22\n', { maxLineLength: 6 });
    expect(received).toBe('ECHO 1\n');
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_LINE_TOO_LONG']);
  });

  it('reports a handleLine that throws and ends that connection only', async () => {
    const server = await startTestServer(CommandHandler);
    const failing = await TestConnection.open(server.port);
    failing.socket.end('ECHO 1\nTHROW\nECHO 2\n');
    expect((await failing.waitForEnd()).toString()).toBe('ECHO 1\n');
    expect(await server.waitForErrors(1)).toEqual([
      expect.objectContaining({ message: 'handleLine failed' }),
    ]);

    const next = await TestConnection.open(server.port);
    next.socket.end('ECHO still serving\n');
    expect((await next.waitForEnd()).toString()).toBe('ECHO still serving\n');
  });

  it('ends a connection whose read waits longer than timeoutMs with ERR_IDLE_TIMEOUT', async () => {
    const server = await startTestServer(CommandHandler, { handlerOptions: { timeoutMs: 300 } });
    const client = await TestConnection.open(server.port);
    await client.write('ECHO before the pause\n');
    expect((await client.waitForEnd()).toString()).toBe('ECHO before the pause\n');
    expect(codesOf(await server.waitForErrors(1))).toEqual(['ERR_IDLE_TIMEOUT']);
  });

  it('replies nothing by default', async () => {
    const { received } = await exchange(LineRequestHandler, 'one\ntwo\n');
    expect(received).toBe('');
  });
});
