// The CPU-bound handler: each line is hashed `hashRounds` times (sha256, chained) before it is
// echoed. No side effects, and erasable TypeScript importing only packages: off-thread
// strategies import this module again in each worker, by `moduleURL`.
import { hash } from 'node:crypto';
import { StreamRequestHandler } from '@socketserver/handlers';

/** sha256 applied `rounds` times, each round to the previous digest; the last digest. */
export function hashChained(data: Uint8Array, rounds: number): Uint8Array {
  let digest = data;
  for (let round = 0; round < rounds; round += 1) digest = hash('sha256', digest, 'buffer');
  return digest;
}

/** The recipe's stream echo, with `hashChained` work on every line. */
export class CpuHashEchoHandler extends StreamRequestHandler {
  static moduleURL: string = import.meta.url;
  /** Rounds per line, unless the server's `handlerOptions.hashRounds` says otherwise. Default 1000. */
  static hashRounds: number = 1000;

  override async handle(): Promise<void> {
    const rounds = this.server.handlerOptions['hashRounds'] ?? CpuHashEchoHandler.hashRounds;
    if (typeof rounds !== 'number') throw new TypeError('handlerOptions.hashRounds must be a number');
    for await (const line of this.rfile) {
      hashChained(line, rounds);
      await this.wfile.write(line);
    }
  }
}
