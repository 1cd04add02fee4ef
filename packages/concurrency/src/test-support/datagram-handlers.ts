/**
 * Datagram handlers loaded by workers (plain Node, erasable TypeScript only, no relative imports),
 * built straight on core's `[data, socket]` request. The datagram is a command, or else echoed:
 * - `!whoami`: answers `<pid> <threadId>`, which worker serves this datagram;
 * - `!throw`: the handler throws a RangeError (reported to the server's handleError);
 * - `!exit`: the handler calls `process.exit(3)` (ends a worker thread, or a child process);
 * - `!badsend`: sends to an address the server cannot reach, then answers how that `sendTo` failed:
 *   `<name> <code>`.
 */
import { threadId } from 'node:worker_threads';
import type { ClientAddress, DatagramRequest, HandlerServer, RequestHandler } from '@socketserver/core';

export class DatagramCommandHandler implements RequestHandler {
  static moduleURL: string = import.meta.url;
  readonly request: DatagramRequest;
  readonly clientAddress: ClientAddress;
  readonly server: HandlerServer;

  constructor(request: DatagramRequest, clientAddress: ClientAddress, server: HandlerServer) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  setup(): void {}

  async handle(): Promise<void> {
    const [data, socket] = this.request;
    const command = data.toString('latin1');
    if (command === '!whoami') await socket.sendTo(`${process.pid} ${threadId}`, this.clientAddress);
    else if (command === '!throw') throw new RangeError('thrown by the handler');
    else if (command === '!exit') process.exit(3);
    else if (command === '!badsend') {
      try {
        await socket.sendTo('lost', ['not an address', 0]);
        await socket.sendTo('sent?', this.clientAddress);
      } catch (error) {
        const { name, code } = error as { name: string; code: string };
        await socket.sendTo(`${name} ${code}`, this.clientAddress);
      }
    } else await socket.sendTo(data, this.clientAddress);
  }

  finish(): void {}
}
