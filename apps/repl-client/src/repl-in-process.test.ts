import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';

/** Polls `read()` until it includes `text`, for at most 5 s. */
async function waitForText(read: () => string, text: string): Promise<void> {
  for (let attempt = 0; attempt < 200 && !read().includes(text); attempt += 1) await delay(25);
  expect(read()).toContain(text);
}

// Its own file: the REPL runs in the test's process, whose Node objects it must leave as they are.
describe('runRepl, in the test process', () => {
  it("shows bytes literals, while Buffer.prototype and util.inspect stay Node's", async () => {
    const nodeInspect = Object.getOwnPropertyDescriptor(Buffer.prototype, inspect.custom);
    expect(nodeInspect?.value).toBe(Reflect.get(Buffer.prototype, 'inspect') as unknown);
    const { runRepl } = await import('./repl.js');
    expect(Object.getOwnPropertyDescriptor(Buffer.prototype, inspect.custom)).toEqual(nodeInspect);

    const input = new PassThrough();
    const output = new PassThrough({ encoding: 'utf8' });
    let text = '';
    output.on('data', (chunk: string) => (text += chunk));
    const exitCode = runRepl({
      host: 'localhost',
      port: 20000,
      isConnectingAtStart: false,
      connectTimeoutMs: 1000,
      historyFilePath: '',
      version: '0.0.0-test',
      input: input as unknown as NodeJS.ReadStream,
      output: output as unknown as NodeJS.WriteStream,
    });
    /** Enters `line` and waits for the line it prints, if any, then the prompt. */
    const run = async (line: string, printed?: string): Promise<void> => {
      const start = text.length;
      input.write(`${line}\n`);
      await waitForText(() => text.slice(start), printed === undefined ? '> ' : `${printed}\n> `);
    };

    await waitForText(() => text, '> ');
    expect(Object.getOwnPropertyDescriptor(Buffer.prototype, inspect.custom)).toEqual(nodeInspect);
    expect(inspect(Buffer.from('hi'))).toBe('<Buffer 68 69>');

    await run("const resp = Buffer.from('Hello\\n')");
    await run('resp', "b'Hello\\n'");
    await run(
      "({ reply: resp, parts: [resp, ['127.0.0.1', 20000]] })",
      "{ reply: b'Hello\\n', parts: [ b'Hello\\n', [ '127.0.0.1', 20000 ] ] }",
    );
    await run("console.log('Response:', resp)", "Response: b'Hello\\n'");
    await run('repr([resp])', '"[ b\'Hello\\\\n\' ]"');
    await run('util.inspect(resp)', "'<Buffer 48 65 6c 6c 6f 0a>'");
    await run('new Promise(() => {})', 'Promise { <pending> }');
    expect(inspect(Buffer.from('hi'))).toBe('<Buffer 68 69>');

    input.write('.exit\n');
    expect(await exitCode).toBe(0);
    expect(Object.getOwnPropertyDescriptor(Buffer.prototype, inspect.custom)).toEqual(nodeInspect);
  });
});
