// Baseline for the line-oriented rows: a node:net line echo that batches. On each 'data', find
// the last '\n': everything up to and including it (every complete line) goes out in ONE
// socket.write(); the unterminated rest is kept for the next chunk. What a careful Node.js
// developer writes; net-line-echo.ts (one write() per line) stays as the obvious version.
//   node bench/baselines/net-line-echo-batched.ts
import net from 'node:net';

const server = net.createServer((socket) => {
  let rest: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const last = chunk.lastIndexOf(0x0a);
    if (last === -1) {
      rest = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      return;
    }
    const lines = chunk.subarray(0, last + 1);
    socket.write(rest.length === 0 ? lines : Buffer.concat([rest, lines]));
    rest = chunk.subarray(last + 1);
  });
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
});
server.listen(0, () => {
  console.log(`Echo server running on port ${(server.address() as net.AddressInfo).port}`);
});
process.once('SIGINT', () => {
  process.stdout.write('\n\nLeaving.\n');
  process.exit(1);
});
