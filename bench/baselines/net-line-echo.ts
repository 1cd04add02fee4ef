// Baseline for the stream handler: a line echo written the obvious way with node:net. On each
// 'data', split on '\n', keep the unterminated rest, and write() each complete line, '\n'
// included. No cork, no batching, no backpressure tricks: what a typical Node.js developer writes.
//   node bench/baselines/net-line-echo.ts
import net from 'node:net';

const server = net.createServer((socket) => {
  let rest: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    let start = 0;
    for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, start)) {
      socket.write(data.subarray(start, end + 1));
      start = end + 1;
    }
    rest = data.subarray(start);
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
