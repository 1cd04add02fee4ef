// The key-value server of docs/guide.md: KVHandler served on the event loop (every client at once,
// one store for all), with bounded values and lines, an idle timeout, and a handleError of its own.
// Run: node examples/kv-server.ts [port]     (then: nc localhost 20000, or repl-client)
import type { Socket } from 'node:net';
import { TCPServer, eventLoopStrategy, formatClientAddress, type ClientAddress } from '@socketserver/core';
import { KVHandler } from './kv-handler.ts';

/** The errors a client causes: expected, so one line on stdout; any other goes to stderr as before. */
const clientErrors = new Set(['ERR_VALUE_TOO_LONG', 'ERR_LINE_TOO_LONG', 'ERR_IDLE_TIMEOUT']);

export class KVServer extends TCPServer {
  override handleError(request: Socket | undefined, clientAddress: ClientAddress, error: unknown): void {
    // Match on `code`: under a worker strategy the error is rebuilt on this thread, not the same object.
    const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && clientErrors.has(code)) {
      console.log(`Closed ${formatClientAddress(clientAddress)}: ${code}`);
      return;
    }
    super.handleError(request, clientAddress, error); // `Error handling request from ...` on stderr
  }
}

// `node examples/kv-server.ts` runs what follows; a test that imports KVServer does not.
if (import.meta.main) {
  const serv = new KVServer(['', Number(process.argv[2] ?? 20000)], KVHandler, {
    strategy: eventLoopStrategy(),
    idleTimeoutMs: 60_000, // a client silent for a minute is closed
    maxConnections: 1000, // more at once are closed at accept (a 'drop' event), not served
    handlerOptions: { maxValueLength: 64, maxLineLength: 256 },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void serv.shutdown({ drainTimeoutMs: 2000 }));
  }
  console.log(`KV server running on port ${serv.port}`);
  await serv.serveForever(); // until shutdown() has stopped the server
  console.log('KV server stopped');
}
