// Baseline: the fastest echo node:net allows, each socket piped to itself. With
// --hash-rounds N, each line is hashed first, as the CPU-bound handler does, on this one thread.
//   node bench/baselines/raw-net-echo.ts [--hash-rounds N]
import net from 'node:net';
import { parseArgs } from 'node:util';
import { hashChained } from '../servers/cpu-hash-handler.ts';

const hashRounds = Number(
  parseArgs({ options: { 'hash-rounds': { type: 'string', default: '0' } } }).values['hash-rounds'],
);

function echoHashedLines(socket: net.Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, start)) {
      const line = data.subarray(start, end + 1);
      hashChained(line, hashRounds);
      socket.write(line);
      start = end + 1;
    }
    pending = data.subarray(start);
  });
  socket.on('end', () => socket.end());
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  if (hashRounds > 0) echoHashedLines(socket);
  else socket.pipe(socket);
});
server.listen(0, () => {
  console.log(`Echo server running on port ${(server.address() as net.AddressInfo).port}`);
});
