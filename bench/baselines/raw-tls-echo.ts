// Baseline of the TLS rows: the fastest TLS echo node:tls allows, each socket piped to itself,
// on 127.0.0.1.
//   node bench/baselines/raw-tls-echo.ts --cert cert.pem --key key.pem
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { cert: { type: 'string' }, key: { type: 'string' } } });
if (values.cert === undefined || values.key === undefined) {
  process.stderr.write('raw-tls-echo: --cert FILE and --key FILE are required\n');
  process.exit(2);
}
const server = tls.createServer(
  { cert: readFileSync(values.cert), key: readFileSync(values.key), noDelay: true },
  (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  },
);
// A client that fails its handshake is that client's problem, not the server's.
server.on('tlsClientError', (_error, socket) => socket.destroy());
server.listen(0, '127.0.0.1', () => {
  console.log(`Echo server running on port ${(server.address() as AddressInfo).port}`);
});
