import {
  inspect,
  stripVTControlCharacters,
  types,
  type InspectOptions,
  type InspectOptionsStylized,
} from 'node:util';
import { renderBytes } from './render-bytes.js';

/** Bytes of one Buffer shown in results and `console.log`; `repr()` shows every byte. */
const maxShownBytes = 4096;
/**
 * Longest array copied to show the Buffers in it: copying walks every item, where inspect shows
 * the first 100. A longer array is shown as is, its Buffers as `<Buffer ...>`.
 */
const maxCopiedItems = 10_000;
/** The own symbols that async hooks put on every promise once the REPL's domain has turned them on. */
const asyncIdSymbols: ReadonlySet<string> = new Set(['async_id_symbol', 'trigger_async_id_symbol']);

/**
 * The REPL's writer: `util.inspect` with these options, except that a Buffer, also inside arrays
 * and plain objects, shows as a Python bytes literal (`b'Hello\n'`), and a promise without the
 * async-id bookkeeping (`Promise { <pending> }`). It changes neither the value nor any of Node's
 * objects, so `util.inspect` elsewhere in the process still shows `<Buffer 48 65 ...>`.
 */
export function formatResult(value: unknown, options: InspectOptions): string {
  const shown = withBytesLiterals(value, options);
  return types.isPromise(shown) ? inspectPromise(shown, options) : inspect(shown, options);
}

/**
 * `value` to show instead of `value`: a Buffer becomes a Buffer over the same bytes whose own
 * `inspect.custom` renders a bytes literal; an array or plain object, down to the depth inspect
 * shows, becomes a copy, with the same prototype and property descriptors, holding such Buffers.
 * Anything else (class instances, maps, errors, proxies) is kept, so it shows as inspect shows it.
 */
export function withBytesLiterals(value: unknown, options: InspectOptions = inspect.defaultOptions): unknown {
  const copies = new Map<object, object>();
  const show = (item: unknown, levelsLeft: number): unknown => {
    if (typeof item !== 'object' || item === null || types.isProxy(item)) return item;
    if (Buffer.isBuffer(item)) return bytesLiteralView(item);
    if (levelsLeft < 0 || !isCopiedContainer(item)) return item;
    const known = copies.get(item);
    if (known !== undefined) return known;
    const copy: object = Array.isArray(item)
      ? new Array<unknown>(item.length)
      : (Object.create(Reflect.getPrototypeOf(item)) as object);
    // Before the properties: a cycle back to `item` shows as one to the copy, `[Circular *1]`.
    copies.set(item, copy);
    for (const key of Reflect.ownKeys(item)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(item, key) as PropertyDescriptor;
      if ('value' in descriptor) descriptor.value = show(descriptor.value, levelsLeft - 1);
      Reflect.defineProperty(copy, key, descriptor);
    }
    return copy;
  };
  return show(value, options.depth === null ? Infinity : (options.depth ?? 2));
}

/**
 * The REPL context's console: the REPL's own one (which writes to the REPL's output), except that
 * what its printing methods print goes through {@link withBytesLiterals}, so
 * `console.log('Response:', resp)` prints `Response: b'Hello\n'` as results do.
 */
export function bytesLiteralConsole(replConsole: Console): Console {
  // Index of the first argument that is a value to print; those before it are not.
  const firstValue: Record<string, number> = {
    log: 0,
    info: 0,
    debug: 0,
    warn: 0,
    error: 0,
    trace: 0,
    dir: 0,
    dirxml: 0,
    table: 0,
    group: 0,
    groupCollapsed: 0,
    assert: 1,
    timeLog: 1,
  };
  const printing = Object.create(replConsole) as Console;
  for (const [name, first] of Object.entries(firstValue)) {
    const method = Reflect.get(replConsole, name) as (...args: unknown[]) => void;
    const print = (...args: unknown[]): void => {
      const shown = args.map((arg, index) => (index < first ? arg : withBytesLiterals(arg)));
      Reflect.apply(method, replConsole, shown);
    };
    Object.defineProperty(printing, name, {
      value: print,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
  return printing;
}

/** `buffer`'s bytes, not copied, in a Buffer that inspect shows as a bytes literal. */
function bytesLiteralView(buffer: Buffer): Buffer {
  const view = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.length);
  return Object.defineProperty(view, inspect.custom, { value: inspectAsBytesLiteral });
}

function inspectAsBytesLiteral(this: Buffer, _depth: number, options: InspectOptionsStylized): string {
  return options.stylize(renderBytes(this, { maxBytes: maxShownBytes }), 'string');
}

/**
 * An array or plain object (of any realm: the REPL's context has its own `Object` and `Array`),
 * which inspect shows from its prototype and own properties alone, so a copy shows the same.
 */
function isCopiedContainer(item: object): boolean {
  const prototype = Reflect.getPrototypeOf(item);
  if (Array.isArray(item)) {
    // `Array.prototype` is itself an array; a subclass's prototype is not.
    return Array.isArray(prototype) && item.length <= maxCopiedItems;
  }
  // Not `Object.prototype` itself, nor a module namespace or `arguments`, which inspect labels.
  return (
    (prototype === null || Reflect.getPrototypeOf(prototype) === null) &&
    !Object.hasOwn(item, 'constructor') &&
    !types.isModuleNamespaceObject(item) &&
    !types.isArgumentsObject(item)
  );
}

/**
 * `inspect(promise)` without the `async_id_symbol` and `trigger_async_id_symbol` entries that every
 * promise gets while the REPL runs, so `s.close()` shows `Promise { <pending> }`, not four lines of
 * bookkeeping. inspect has no option to leave properties out, and the promise is not the REPL's to
 * change, so the entries are cut from the end of the text; a promise left with its state alone on
 * a line of its own then goes on one line, where inspect would put it. (A promise with symbols of
 * its own after them shows as inspect shows it.)
 */
function inspectPromise(promise: Promise<unknown>, options: InspectOptions): string {
  const text = inspect(promise, options);
  const hidden = Object.getOwnPropertySymbols(promise).filter((symbol) =>
    asyncIdSymbols.has(symbol.description ?? ''),
  );
  if (hidden.length === 0) return text;
  // Each entry as inspect writes it: `Symbol(async_id_symbol): 6`.
  const entryOptions = { ...options, compact: 3, breakLength: Infinity };
  const entries = hidden.map((symbol) =>
    inspect({ [symbol]: Reflect.get(promise, symbol) as unknown }, entryOptions).slice(
      '{ '.length,
      -' }'.length,
    ),
  );
  const oneLineTail = `${entries.map((entry) => `, ${entry}`).join('')} }`;
  if (text.endsWith(oneLineTail)) return `${text.slice(0, -oneLineTail.length)} }`;
  const linesTail = `${entries.map((entry) => `,\n  ${entry}`).join('')}\n}`;
  if (!text.endsWith(linesTail)) return text;
  const rest = `${text.slice(0, -linesTail.length)}\n}`;
  const head = 'Promise {\n  ';
  const state = rest.slice(head.length, -'\n}'.length);
  // inspect's rule for one entry on one line: 2 * 1 entry + 'Promise {'.length + 10 + its width fit.
  const { compact = 3, breakLength = 80 } = options;
  const fits =
    typeof compact === 'number' && compact >= 1 && 21 + stripVTControlCharacters(state).length <= breakLength;
  return rest.startsWith(head) && !state.includes('\n') && fits ? `Promise { ${state} }` : rest;
}
