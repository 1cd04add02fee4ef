import { threadId } from 'node:worker_threads';
import { StreamRequestHandler } from '@socketserver/handlers';

/** How long `!spin` keeps its thread busy, in ms: only terminating the worker ends it sooner. */
const spinMs = 30_000;

/**
 * The recipe's stream echo handler, loaded by workers (plain Node, erasable TypeScript only, no
 * relative imports). A line starting with `!` is a command instead:
 * - `!whoami`: answers `<pid> <threadId>`, which worker serves this connection;
 * - `!address`: answers the handler's `clientAddress` as JSON;
 * - `!throw`: the handler throws a RangeError (its connection ends, the worker goes on);
 * - `!exit`: the handler calls `process.exit(3)` (ends a worker thread, or a child process);
 * - `!crash`: an uncaught exception from a timer the handler starts (its connection's code);
 * - `!crash-outside`: an uncaught exception from a timer of the module, outside any connection;
 * - `!reject`: an unhandled promise rejection, then answers `rejected`;
 * - `!spin`: answers `spinning`, then keeps its thread busy, deaf to everything.
 */
/** Set by `!crash-outside`: the module's own timer, started at load, throws on its next run. */
let isCrashOutsideAsked = false;
setInterval(() => {
  if (!isCrashOutsideAsked) return;
  isCrashOutsideAsked = false;
  throw new Error('uncaught outside any connection');
}, 5).unref();

export class CommandEchoHandler extends StreamRequestHandler {
  static moduleURL: string = import.meta.url;

  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      if (line[0] !== 0x21) {
        await this.wfile.write(line);
        continue;
      }
      const command = line.toString('latin1').trim();
      if (command === '!whoami') await this.wfile.write(`${process.pid} ${threadId}\n`);
      else if (command === '!address') await this.wfile.write(`${JSON.stringify(this.clientAddress)}\n`);
      else if (command === '!throw') throw new RangeError('thrown by the handler');
      else if (command === '!exit') process.exit(3);
      else if (command === '!crash') {
        setTimeout(() => {
          throw new Error('uncaught in the worker');
        }, 0);
      } else if (command === '!crash-outside') {
        isCrashOutsideAsked = true;
      } else if (command === '!reject') {
        void Promise.reject(new TypeError('rejected and never handled'));
        await this.wfile.write('rejected\n');
      } else if (command === '!spin') {
        await this.wfile.write('spinning\n');
        const until = Date.now() + spinMs;
        while (Date.now() < until);
      } else await this.wfile.write(line);
    }
  }
}
