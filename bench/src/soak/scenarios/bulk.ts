// Bulk: a large amount echoed over a few connections in parallel, every byte checked. Each
// connection sends 1 KiB lines that carry its id and their sequence number (bench's LineContent),
// at most a window ahead of its echo, and compares the echo with them as it arrives.
import { LineContent } from '../../load/line-content.ts';
import { EchoConnection } from '../client.ts';
import { bytesLabel, type Scenario } from '../scenario.ts';

const lineBytes = 1024;
const linesPerWrite = 64;
/** Bytes a connection may have sent and not yet had back. */
const windowBytes = 4 * 2 ** 20;
/** The longest an echo may stall before the scenario fails. */
const stallMs = 60_000;

export const bulk: Scenario = {
  id: 'bulk',
  label: (sizes) => `bulk-${bytesLabel(sizes.bulkBytes)}`,
  held: 'every byte comes back, in order, on every connection (a wrong, missing or extra byte fails)',

  async run({ sizes, startServer }) {
    const server = await startServer();
    const perConnection = Math.floor(sizes.bulkBytes / sizes.bulkConnections);
    const writes = Math.ceil(perConnection / (lineBytes * linesPerWrite));
    const startedAt = performance.now();
    const echoed = await Promise.all(
      Array.from({ length: sizes.bulkConnections }, async (_, id) => {
        const content = new LineContent(id, lineBytes);
        const connection = await EchoConnection.open(server.port, 30_000);
        try {
          for (let index = 0; index < writes; index += 1) {
            const lines = Math.min(linesPerWrite, perConnection / lineBytes - index * linesPerWrite);
            await connection.echoed(stallMs, windowBytes - lines * lineBytes);
            connection.send(content.lines(index * linesPerWrite, lines));
          }
          await connection.echoed(stallMs);
          return connection.checker.receivedBytes;
        } finally {
          connection.socket.destroy();
        }
      }),
    );
    const seconds = (performance.now() - startedAt) / 1000;
    const totalBytes = echoed.reduce((sum, bytes) => sum + bytes, 0);
    const megabytesPerSecond = totalBytes / 1e6 / seconds;
    return {
      figure:
        `${(totalBytes / 2 ** 20).toFixed(0)} MiB echoed byte-exact over ${sizes.bulkConnections} connections ` +
        `in ${seconds.toFixed(1)} s: ${megabytesPerSecond.toFixed(0)} MB/s`,
      metrics: {
        echoedBytes: totalBytes,
        connections: sizes.bulkConnections,
        seconds: Math.round(seconds * 100) / 100,
        megabytesPerSecond: Math.round(megabytesPerSecond),
      },
      failures: totalBytes === sizes.bulkBytes ? [] : [`${totalBytes} of ${sizes.bulkBytes} bytes echoed`],
    };
  },
};
