import { existsSync, readFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { StreamRequestHandler } from '@socketserver/handlers';

/**
 * A handler module that throws at load while the file named by `SOCKETSERVER_TEST_REFUSE_LOAD`
 * exists (only in worker threads with an odd `threadId` if the file says `odd`), as a module that
 * fails to import does (plain Node, erasable TypeScript only, no relative imports: workers load
 * it). Its handler echoes lines; `!whoami` answers `<pid> <threadId>`, and `!exit` ends the worker
 * (`process.exit(3)`).
 */
const marker = process.env['SOCKETSERVER_TEST_REFUSE_LOAD'];
if (marker !== undefined && existsSync(marker)) {
  const isOddOnly = readFileSync(marker, 'utf8') === 'odd';
  if (!isOddOnly || threadId % 2 === 1) throw new Error('this handler module refuses to load');
}

export class RefusingHandler extends StreamRequestHandler {
  static moduleURL: string = import.meta.url;

  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      const text = line.toString('latin1').trim();
      if (text === '!whoami') await this.wfile.write(`${process.pid} ${threadId}\n`);
      else if (text === '!exit') process.exit(3);
      else await this.wfile.write(line);
    }
  }
}
