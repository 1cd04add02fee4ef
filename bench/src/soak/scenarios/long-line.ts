// Long lines: C clients each send M bytes with no newline at once. The stream and line handlers
// cap a line at --max-line-length (65536 by default): the server must close each connection
// (ERR_LINE_TOO_LONG on its stderr) rather than hold the line. The raw handler echoes bytes, not
// lines: every byte must come back. Either way the server's RSS must not grow by what was sent.
import { EchoConnection, describeCounts, errorCode, freshCheck, pollUntil, type Ending } from '../client.ts';
import { bytesLabel, mib, ms, type Scenario } from '../scenario.ts';
import { rssOf } from '../server.ts';

const chunkBytes = 64 * 1024;
/** RSS growth of the server tree that counts as bounded: under what 4 × 10 MiB would take. */
const rssGrowthBoundBytes = 32 * 2 ** 20;
const rssSampleMs = 50;

export const longLine: Scenario = {
  id: 'long-line',
  label: (sizes) => `long-line-${sizes.longLineClients}x${bytesLabel(sizes.longLineBytes)}`,
  held:
    'stream and line handlers: the server closes every connection (one ERR_LINE_TOO_LONG line on ' +
    'its stderr each) and echoes nothing of the unfinished line; raw handler: every byte comes ' +
    'back in order; either way the RSS of the server tree grows by less than 32 MiB at its peak ' +
    '(from when each connection has echoed a short line), and a fresh client is served afterwards',

  async run({ strategy, sizes, handler, extraArgs, startServer }) {
    const server = await startServer();
    // Each connection echoes a short line first, so a thread or a process serves it already: the
    // RSS baseline includes what the strategy spends per connection, and the growth is the lines'.
    // Not where fewer are served at once (serial): the others wait for the first one's long line.
    const isServedAtOnce = strategy.capacity(extraArgs).connections >= sizes.longLineClients;
    const connections = await Promise.all(
      Array.from({ length: sizes.longLineClients }, async (_, index) => {
        const connection = await EchoConnection.open(server.port, 30_000);
        if (isServedAtOnce) {
          connection.send(Buffer.from(`long line ${index} follows\n`));
          await connection.echoed(30_000);
        }
        return connection;
      }),
    );
    // The processes serving them now; a spare a fork server starts meanwhile is not their growth.
    const pids = server.treePids();
    const rssBeforeBytes = rssOf(pids);
    let rssPeakBytes = rssBeforeBytes;
    const sampler = setInterval(() => (rssPeakBytes = Math.max(rssPeakBytes, rssOf(pids))), rssSampleMs);
    const startedAt = performance.now();
    // Letters only: no newline anywhere in it.
    const chunk = Buffer.alloc(chunkBytes, 'abcdefghijklmnopqrstuvwxyz');
    const results: { sent: number; echoed: number; ending: Ending | undefined; error?: string }[] = [];
    try {
      await Promise.all(
        connections.map(async (connection) => {
          const echoedBefore = connection.checker.receivedBytes;
          const sentBefore = connection.sentBytes;
          const longLineBytes = sentBefore + sizes.longLineBytes;
          let error: string | undefined;
          try {
            while (connection.sentBytes < longLineBytes && connection.ending === undefined) {
              const left = longLineBytes - connection.sentBytes;
              await connection.sendWithBackpressure(
                left >= chunkBytes ? chunk : chunk.subarray(0, left),
                60_000,
              );
            }
            if (handler === 'raw') await connection.echoed(60_000);
            else await connection.ended(10_000);
          } catch (caught) {
            error = errorCode(caught);
          } finally {
            connection.socket.destroy();
          }
          results.push({
            sent: connection.sentBytes - sentBefore,
            echoed: connection.checker.receivedBytes - echoedBefore,
            ending: connection.ending,
            ...(error === undefined ? {} : { error }),
          });
        }),
      );
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - startedAt) / 1000;
    rssPeakBytes = Math.max(rssPeakBytes, rssOf(pids));
    const fresh = await freshCheck(server.port, sizes.freshBoundMs);
    const rssAfterBytes = rssOf(pids);
    const growthBytes = rssPeakBytes - rssBeforeBytes;

    const failures: string[] = fresh.failure === undefined ? [] : [fresh.failure];
    const errors = results.flatMap((result) => (result.error === undefined ? [] : [result.error]));
    const echoedBytes = results.reduce((sum, result) => sum + result.echoed, 0);
    let what: string;
    if (handler === 'raw') {
      if (errors.length > 0) failures.push(`not echoed whole: ${describeCounts(errors)}`);
      what = `${mib(echoedBytes)} of ${mib(sizes.longLineClients * sizes.longLineBytes)} echoed byte-exact in ${seconds.toFixed(1)} s`;
    } else {
      const closed = results.filter((result) => result.error === undefined && result.ending !== undefined);
      const tooLong = (): number => server.stderrLines(/ERR_LINE_TOO_LONG/);
      await pollUntil(() => tooLong() >= sizes.longLineClients, 5_000, 20, 'ERR_LINE_TOO_LONG lines').catch(
        () => undefined, // counted below
      );
      if (closed.length < sizes.longLineClients) {
        failures.push(
          `${closed.length}/${sizes.longLineClients} closed by the server (${describeCounts(errors)})`,
        );
      }
      if (echoedBytes > 0) failures.push(`${echoedBytes} bytes of an unfinished line echoed`);
      if (tooLong() < sizes.longLineClients) {
        failures.push(`${tooLong()}/${sizes.longLineClients} ERR_LINE_TOO_LONG lines on the server's stderr`);
      }
      const sentMiB = results.map((result) => (result.sent / 2 ** 20).toFixed(1));
      what =
        `${closed.length}/${sizes.longLineClients} closed by the server (${describeCounts(closed.map((result) => result.ending ?? ''))}; ` +
        `${tooLong()} ERR_LINE_TOO_LONG) after the client wrote ${sentMiB.join('/')} MiB, ${echoedBytes} B echoed`;
    }
    if (growthBytes >= rssGrowthBoundBytes) {
      failures.push(`RSS grew by ${mib(growthBytes)}, not under ${mib(rssGrowthBoundBytes)}`);
    }
    return {
      figure: `${what}; RSS +${mib(growthBytes)} at peak (bound ${mib(rssGrowthBoundBytes)}); fresh client ${ms(fresh.ms)}`,
      metrics: {
        clients: sizes.longLineClients,
        bytesPerClient: sizes.longLineBytes,
        echoedBytes,
        rssBeforeBytes,
        rssPeakBytes,
        rssAfterBytes,
        rssGrowthBytes: growthBytes,
        closedByServer: results.filter((result) => result.ending !== undefined).length,
        lineTooLongReports: server.stderrLines(/ERR_LINE_TOO_LONG/),
        freshMs: Math.round(fresh.ms * 100) / 100,
      },
      failures,
    };
  },
};
