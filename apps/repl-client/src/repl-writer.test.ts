import { Console } from 'node:console';
import { writer as nodeWriter } from 'node:repl';
import { PassThrough } from 'node:stream';
import { inspect, type InspectOptions } from 'node:util';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { bytesLiteralConsole, formatResult, withBytesLiterals } from './repl-writer.js';

/** The REPL's own writer options, without colors, as repl-client's writer gets them. */
const replOptions: InspectOptions = { ...nodeWriter.options, colors: false };

/** `promise` with the async-id symbols that Node's async hooks put on every promise in the REPL. */
function withAsyncIds<T>(promise: Promise<T>, asyncId = 1234, triggerAsyncId = 56): Promise<T> {
  return Object.assign(promise, {
    [Symbol('async_id_symbol')]: asyncId,
    [Symbol('trigger_async_id_symbol')]: triggerAsyncId,
  });
}

describe('formatResult, the REPL writer', () => {
  it('shows a Buffer as a Python bytes literal, at most 4096 bytes of it', () => {
    expect(formatResult(Buffer.from('Hello\n'), replOptions)).toBe("b'Hello\\n'");
    expect(formatResult(Buffer.from([0, 0x27, 0xff]), replOptions)).toBe('b"\\x00\'\\xff"');
    const long = formatResult(Buffer.alloc(5000, 'A'), replOptions);
    expect(long).toBe(`b'${'A'.repeat(4096)}'... (5000 bytes in all)`);
    expect(formatResult(Buffer.from('hi'), { ...replOptions, colors: true })).toBe(
      "\u001b[32mb'hi'\u001b[39m",
    );
  });

  it('shows Buffers inside arrays and plain objects, of any realm, as bytes literals', () => {
    const bytes = Buffer.from('Hello\n');
    expect(formatResult([bytes, ['127.0.0.1', 20000]], replOptions)).toBe(
      "[ b'Hello\\n', [ '127.0.0.1', 20000 ] ]",
    );
    // As typed at the prompt: the REPL's context has its own Object and Array.
    const typed: unknown = runInNewContext('({ reply: bytes, parts: [bytes, 42], [Symbol("tag")]: bytes })', {
      bytes,
    });
    expect(formatResult(typed, replOptions)).toBe(
      "{\n  reply: b'Hello\\n',\n  parts: [ b'Hello\\n', 42 ],\n  Symbol(tag): b'Hello\\n'\n}",
    );
    const dictionary = Object.assign(Object.create(null) as object, { bytes });
    expect(formatResult(dictionary, replOptions)).toBe("[Object: null prototype] { bytes: b'Hello\\n' }");
  });

  it('keeps what inspect shows of everything but the Buffers: cycles, holes, getters, depth', () => {
    const bytes = Buffer.from('hi');
    const cycle: Record<string, unknown> = { bytes };
    cycle['self'] = cycle;
    const sparse: unknown[] = [];
    sparse[3] = bytes;
    const withGetter = {
      get bytes() {
        return bytes;
      },
    };
    const deep = { a: { b: { bytes, c: { bytes } } } };
    expect(formatResult(cycle, replOptions)).toBe("<ref *1> { bytes: b'hi', self: [Circular *1] }");
    expect(formatResult(sparse, replOptions)).toBe("[ <3 empty items>, b'hi' ]");
    expect(formatResult(withGetter, replOptions)).toBe('{ bytes: [Getter] }');
    expect(formatResult(deep, replOptions)).toBe("{ a: { b: { bytes: b'hi', c: [Object] } } }");
    for (const value of [
      new Map([[1, 'one']]),
      new Uint8Array([1, 2]),
      'text',
      42,
      null,
      [1, [2, [3, [4]]]],
    ]) {
      expect(formatResult(value, replOptions)).toBe(inspect(value, replOptions));
    }
  });

  it('changes neither the value nor Buffer.prototype: inspect elsewhere shows <Buffer ...>', () => {
    const nodeInspect = Object.getOwnPropertyDescriptor(Buffer.prototype, inspect.custom);
    const bytes = Buffer.from('hi');
    const value = { bytes, list: [bytes] };
    expect(formatResult(value, replOptions)).toBe("{ bytes: b'hi', list: [ b'hi' ] }");
    expect(value.bytes).toBe(bytes);
    expect(value.list[0]).toBe(bytes);
    expect(Object.getOwnPropertySymbols(bytes)).toEqual([]);
    expect(Object.getOwnPropertyDescriptor(Buffer.prototype, inspect.custom)).toEqual(nodeInspect);
    expect(inspect(bytes)).toBe('<Buffer 68 69>');
    expect(inspect(value)).toBe('{ bytes: <Buffer 68 69>, list: [ <Buffer 68 69> ] }');
  });

  it('shows a promise without the async-id symbols, laid out as inspect lays out one without them', () => {
    const rejected = Promise.reject(new Error('boom'));
    rejected.catch(() => {});
    const cases: [Promise<unknown>, InspectOptions, string][] = [
      [new Promise(() => {}), replOptions, 'Promise { <pending> }'],
      [Promise.resolve(1), replOptions, 'Promise { 1 }'],
      // One line while 21 + the state's width fits in breakLength, 80.
      [Promise.resolve('x'.repeat(57)), replOptions, `Promise { '${'x'.repeat(57)}' }`],
      [Promise.resolve('x'.repeat(58)), replOptions, `Promise {\n  '${'x'.repeat(58)}'\n}`],
      [Promise.resolve(1), { ...replOptions, breakLength: 200 }, 'Promise { 1 }'],
      [Promise.resolve(1), { ...replOptions, compact: false }, 'Promise {\n  1\n}'],
      [new Promise(() => {}), { ...replOptions, colors: true }, 'Promise { \u001b[36m<pending>\u001b[39m }'],
    ];
    for (const [promise, options, expected] of cases) {
      expect(formatResult(withAsyncIds(promise), options)).toBe(expected);
    }
    expect(formatResult(withAsyncIds(rejected), replOptions)).toMatch(
      /^Promise \{\n {2}<rejected> Error: boom\n/,
    );
    expect(formatResult(withAsyncIds(rejected), replOptions)).not.toContain('async_id_symbol');
  });

  it('leaves the promise as it was', () => {
    const promise = withAsyncIds(new Promise(() => {}), 7, 3);
    const properties = (): [symbol, unknown][] =>
      Object.getOwnPropertySymbols(promise).map((symbol) => [symbol, Reflect.get(promise, symbol)]);
    const before = properties();
    expect(formatResult(promise, replOptions)).toBe('Promise { <pending> }');
    expect(properties()).toEqual(before);
  });
});

describe('withBytesLiterals', () => {
  it('leaves bytes as they are for everything but inspect: toString, JSON, Buffer.isBuffer', () => {
    const bytes = Buffer.from('hi');
    const shown = withBytesLiterals(bytes) as Buffer;
    expect(shown).not.toBe(bytes);
    expect(Buffer.isBuffer(shown)).toBe(true);
    expect(shown.buffer).toBe(bytes.buffer);
    expect(String(shown)).toBe('hi');
    expect(JSON.stringify(shown)).toBe(JSON.stringify(bytes));
    expect(inspect(shown)).toBe("b'hi'");
  });
});

describe('bytesLiteralConsole', () => {
  it("prints Buffers as bytes literals and else as the REPL's console does", () => {
    const stream = new PassThrough({ encoding: 'utf8' });
    const replConsole = new Console({ stdout: stream, stderr: stream });
    const console = bytesLiteralConsole(replConsole);
    const bytes = Buffer.from('Hello\n');
    console.log('Response:', bytes, 'from', ['127.0.0.1', 20000]);
    console.error({ bytes });
    console.log('%j', bytes);
    console.count('reads');
    expect(String(stream.read())).toBe(
      "Response: b'Hello\\n' from [ '127.0.0.1', 20000 ]\n" +
        "{ bytes: b'Hello\\n' }\n" +
        '{"type":"Buffer","data":[72,101,108,108,111,10]}\n' +
        'reads: 1\n',
    );
    expect(inspect(bytes)).toBe('<Buffer 48 65 6c 6c 6f 0a>');
  });
});
