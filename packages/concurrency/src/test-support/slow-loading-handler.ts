import { setTimeout as delay } from 'node:timers/promises';
import { threadId } from 'node:worker_threads';
import { StreamRequestHandler } from '@socketserver/handlers';

/**
 * A handler module that takes `SOCKETSERVER_TEST_SLOW_LOAD_MS` ms to load (a top-level await), as
 * a module with a slow import does, so that a worker takes that long to start (plain Node,
 * erasable TypeScript only, no relative imports: workers load it). Its handler echoes lines;
 * `!whoami` answers `<pid> <threadId>`.
 */
export const slowLoadVariable = 'SOCKETSERVER_TEST_SLOW_LOAD_MS';
const loadDelayMs = Number(process.env[slowLoadVariable] ?? '0');
if (loadDelayMs > 0) await delay(loadDelayMs);

export class SlowLoadingHandler extends StreamRequestHandler {
  static moduleURL: string = import.meta.url;

  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      if (line.toString('latin1').trim() === '!whoami')
        await this.wfile.write(`${process.pid} ${threadId}\n`);
      else await this.wfile.write(line);
    }
  }
}
