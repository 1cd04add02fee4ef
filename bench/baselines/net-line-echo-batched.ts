// Baseline for the line-oriented rows: a hand-written node:net line echo that frames every line
// and batches its writes. On each 'data', it walks the chunk line by line (indexOf '\n' from the
// end of the previous line, as any line protocol must to see each line), then sends all the
// complete lines in ONE socket.write(); the unterminated rest waits for the next chunk. What a
// careful Node.js developer writes for a line protocol; net-line-echo.ts (one write() per line)
// stays as the obvious version.
//   node bench/baselines/net-line-echo-batched.ts
import net from 'node:net';

const newline = 0x0a;

const server = net.createServer((socket) => {
  let rest: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    let complete = 0;
    for (let end = data.indexOf(newline); end !== -1; end = data.indexOf(newline, complete)) {
      complete = end + 1; // one more line
    }
    if (complete > 0) socket.write(data.subarray(0, complete));
    rest = data.subarray(complete);
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
