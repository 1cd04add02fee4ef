// The key-value store of docs/guide.md: a line protocol of three commands, one reply line each.
//
//   GET key          VALUE <value>, or NOT_FOUND
//   SET key value    OK (the value is the rest of the line, spaces included)
//   QUIT             BYE, then the server closes the connection
//   anything else    ERR <what was wrong>
//
// The handler lives in a module of its own, with no side effects: thread and process strategies
// load it again in every worker, by `moduleURL` and its export name. Run it with
// examples/kv-server.ts or examples/kv-workers.ts.
import { InvalidOptionError } from '@socketserver/core';
import { LineRequestHandler, type LineReply } from '@socketserver/handlers';

/**
 * The data. A module's variables belong to the thread or process that loaded the module: one Map for
 * a server on the event loop, one per worker under threads and processes.
 */
const store = new Map<string, string>();

/** A SET whose value is longer than `maxValueLength`: it ends the connection, and reaches `handleError`. */
export class ValueTooLongError extends Error {
  /** What to match on: an error thrown in a worker reaches the main thread with its name, message and code. */
  readonly code = 'ERR_VALUE_TOO_LONG';

  constructor(length: number, maxValueLength: number) {
    super(`a value of ${length} bytes is longer than maxValueLength (${maxValueLength})`);
    this.name = 'ValueTooLongError';
  }
}

export class KVHandler extends LineRequestHandler {
  static moduleURL = import.meta.url;
  /** The longest value SET takes, in bytes; the server's `handlerOptions.maxValueLength` overrides it. */
  static maxValueLength = 1024;

  #maxValueLength = KVHandler.maxValueLength;

  override setup(): void {
    super.setup(); // rfile and wfile, with maxLineLength and timeoutMs from handlerOptions
    const { maxValueLength = KVHandler.maxValueLength } = this.server.handlerOptions;
    if (typeof maxValueLength !== 'number' || !Number.isSafeInteger(maxValueLength) || maxValueLength < 1) {
      throw new InvalidOptionError('maxValueLength', maxValueLength, 'an integer >= 1');
    }
    this.#maxValueLength = maxValueLength;
  }

  override handleLine(line: Buffer): LineReply {
    const text = line.toString('utf8').replace(/\r?\n$/, '');
    const [command = '', key = '', ...words] = text.split(' ');
    switch (command) {
      case 'GET': {
        if (key === '' || words.length > 0) return 'ERR usage: GET key\n';
        const value = store.get(key);
        return value === undefined ? 'NOT_FOUND\n' : `VALUE ${value}\n`;
      }
      case 'SET': {
        if (key === '' || words.length === 0) return 'ERR usage: SET key value\n';
        const value = words.join(' ');
        const length = Buffer.byteLength(value);
        if (length > this.#maxValueLength) {
          // Tell the client, then fail: the reply goes out before the connection closes.
          this.wfile.gather('ERR value too long\n');
          throw new ValueTooLongError(length, this.#maxValueLength);
        }
        store.set(key, value);
        return 'OK\n';
      }
      case 'QUIT':
        this.endConnection();
        return 'BYE\n';
      default:
        return 'ERR unknown command\n';
    }
  }
}
