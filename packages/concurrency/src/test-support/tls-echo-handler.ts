import { TLSSocket } from 'node:tls';
import { threadId } from 'node:worker_threads';
import { proxyHeaderOf } from '@socketserver/core';
import { StreamRequestHandler } from '@socketserver/handlers';

/**
 * An echo handler that tells what its connection is, loaded by workers (plain Node, erasable
 * TypeScript only, no relative imports). A line starting with `!` is a command instead:
 * - `!whoami`: answers `<pid> <threadId>`, which worker serves this connection;
 * - `!tls`: answers, as JSON, what the handler's socket is: `{ isTLSSocket, encrypted, protocol,
 *   alpnProtocol, servername }`, so a test sees the TLS session live in the worker;
 * - `!address`: answers the handler's `clientAddress` as JSON;
 * - `!proxy`: answers the connection's PROXY header (`proxyHeaderOf`): its version, destination and
 *   TLVs (`[type, value as text]`), as JSON.
 */
export class TLSEchoHandler extends StreamRequestHandler {
  static moduleURL: string = import.meta.url;

  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      const command = line[0] === 0x21 ? line.toString('latin1').trim() : '';
      if (command === '!whoami') await this.wfile.write(`${process.pid} ${threadId}\n`);
      else if (command === '!tls')
        await this.wfile.write(`${JSON.stringify(describe(this.request.socket))}\n`);
      else if (command === '!address') await this.wfile.write(`${JSON.stringify(this.clientAddress)}\n`);
      else if (command === '!proxy') {
        const header = proxyHeaderOf(this.request.socket);
        const tlvs = header?.tlvs.map(({ type, value }) => [type, value.toString()]);
        await this.wfile.write(
          `${JSON.stringify({ version: header?.version, destination: header?.destination, tlvs })}\n`,
        );
      } else await this.wfile.write(line);
    }
  }
}

function describe(socket: object): Record<string, unknown> {
  if (!(socket instanceof TLSSocket)) return { isTLSSocket: false };
  return {
    isTLSSocket: true,
    encrypted: socket.encrypted,
    protocol: socket.getProtocol(),
    alpnProtocol: socket.alpnProtocol,
    servername: socket.servername,
  };
}
