/**
 * Datagram handlers loaded by workers (plain Node, erasable TypeScript only, no relative imports),
 * built straight on core's `[data, socket]` request. The datagram is a command, or else echoed:
 * - `!whoami`: answers `<pid> <threadId>`, which worker serves this datagram;
 * - `!throw`: the handler throws a RangeError (reported to the server's handleError);
 * - `!exit`: the handler calls `process.exit(3)` (ends a worker thread, or a child process);
 * - `!badsend`: sends to an address the server cannot reach, then answers how that `sendTo` failed:
 *   `<name> <code>`;
 * - `!kind`: answers what the handler's `data` is: `<constructor name> <Buffer.isBuffer>`;
 * - `!view`: sends `VIEW` as a Uint8Array view into the middle of a larger buffer, and overwrites
 *   that buffer before the send settles: only the view's bytes, as they were, may arrive;
 * - `!options`: answers the handler options as they arrived, described as JSON (see `describe`).
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
    } else if (command === '!kind') {
      await socket.sendTo(`${data.constructor.name} ${Buffer.isBuffer(data)}`, this.clientAddress);
    } else if (command === '!view') {
      const whole = new Uint8Array(64).fill(0x2e);
      whole.set(Buffer.from('VIEW'), 30);
      const sending = socket.sendTo(whole.subarray(30, 34), this.clientAddress);
      whole.fill(0x21);
      await sending;
    } else if (command === '!options') {
      await socket.sendTo(JSON.stringify(describe(this.server.handlerOptions)), this.clientAddress);
    } else await socket.sendTo(data, this.clientAddress);
  }

  finish(): void {}
}

/** Each option's type (its constructor's name for an object) and its value as text. */
function describe(options: Readonly<Record<string, unknown>>): Record<string, [string, string]> {
  const described: Record<string, [string, string]> = {};
  for (const [name, value] of Object.entries(options)) {
    const type =
      typeof value === 'object' && value !== null ? (value.constructor?.name ?? 'Object') : typeof value;
    const text =
      value instanceof Map
        ? JSON.stringify([...value])
        : value instanceof Uint8Array
          ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
          : value instanceof Date
            ? value.toISOString()
            : String(value);
    described[name] = [type, text];
  }
  return described;
}
