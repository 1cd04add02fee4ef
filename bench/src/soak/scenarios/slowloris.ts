// Slowloris: N clients each send one byte every 100 ms, never a newline, while fresh clients are
// timed one after the other (connect and one echoed line). At the end each slow client sends its
// newline and must get its whole line back.
import { median } from '../../stats.ts';
import {
  Changes,
  EchoConnection,
  describeCounts,
  errorCode,
  forEachLimited,
  freshClient,
  lineOf,
} from '../client.ts';
import { count, ms, needsConnectionsAtOnce, type Scenario } from '../scenario.ts';

const tickMs = 100;
/** One-byte buffers, shared by every send (never changed): a client's byte `n` is letters[(id·7 + n) % 26]. */
const letters = Array.from({ length: 26 }, (_, index) => Buffer.from([0x61 + index]));
/** Fresh clients that fail one after the other before the scenario gives up waiting on more. */
const failuresInARowAtMost = 3;

export const slowloris: Scenario = {
  id: 'slowloris',
  label: (sizes) => `slowloris-${count(sizes.slowlorisClients)}`,
  held:
    'while N clients each send one byte every 100 ms and never a newline, every fresh client ' +
    '(connect and one echoed line, one after the other) is served within the bound (5 s); at the ' +
    'end every slow client is still connected and gets its whole line back once it sends the newline',
  byDesign: (strategy, sizes) =>
    needsConnectionsAtOnce(
      strategy,
      sizes.slowlorisClients + 1,
      `${sizes.slowlorisClients} slow clients and a fresh one`,
    ),

  async run({ sizes, startServer }) {
    const server = await startServer();
    await freshClient(server.port, 30_000, 'warm-up');
    const failures: string[] = [];
    const slow: EchoConnection[] = [];
    const openErrors: string[] = [];
    await forEachLimited(sizes.slowlorisClients, 100, async (index) => {
      try {
        const connection = await EchoConnection.open(server.port, 30_000);
        connection.send(lineOf(`slow ${index} `).subarray(0, -1)); // no newline
        slow.push(connection);
      } catch (error) {
        openErrors.push(errorCode(error));
      }
    });
    if (openErrors.length > 0)
      failures.push(`${openErrors.length} slow clients did not connect: ${describeCounts(openErrors)}`);

    // The dribble: a pacing timer (load, not synchronisation); each tick wakes whoever waits for ticks.
    let ticks = 0;
    const tickChanges = new Changes();
    const timer = setInterval(() => {
      ticks += 1;
      for (const [index, connection] of slow.entries()) {
        if (connection.ending === undefined) connection.send(letters[(index * 7 + ticks) % 26] as Buffer);
      }
      tickChanges.notify();
    }, tickMs);
    const latenciesMs: number[] = [];
    const freshFailures: string[] = [];
    const startedAt = performance.now();
    try {
      const waitTicks = async (target: number): Promise<void> =>
        tickChanges.until(
          () => ticks >= target,
          (target - ticks) * tickMs + 30_000,
          `dribble tick ${target}`,
        );
      await waitTicks(sizes.slowlorisWarmTicks);
      let inARow = 0;
      for (let index = 0; index < sizes.freshClients && inARow < failuresInARowAtMost; index += 1) {
        if (index > 0) await waitTicks(ticks + sizes.slowlorisTicksBetweenFresh);
        try {
          latenciesMs.push(await freshClient(server.port, sizes.freshBoundMs));
          inARow = 0;
        } catch (error) {
          freshFailures.push(errorCode(error));
          inARow += 1;
        }
      }
    } finally {
      clearInterval(timer);
    }
    const dribbleSeconds = (performance.now() - startedAt) / 1000;
    if (freshFailures.length > 0 || latenciesMs.length < sizes.freshClients) {
      failures.push(
        `${latenciesMs.length}/${sizes.freshClients} fresh clients served within ${sizes.freshBoundMs} ms` +
          (freshFailures.length > 0 ? ` (${describeCounts(freshFailures)})` : ''),
      );
    }

    const closedEarly = slow.filter((connection) => connection.ending !== undefined);
    if (closedEarly.length > 0) {
      failures.push(
        `${closedEarly.length} slow clients closed while dribbling: ${describeCounts(closedEarly.map((connection) => connection.ending ?? ''))}`,
      );
    }
    const lineErrors: string[] = [];
    let dribbledBytes = 0;
    await Promise.all(
      slow.map(async (connection) => {
        if (connection.ending !== undefined) return;
        dribbledBytes += connection.sentBytes;
        try {
          connection.send(Buffer.from('\n'));
          await connection.echoed(10_000);
        } catch (error) {
          lineErrors.push(errorCode(error));
        }
      }),
    );
    for (const connection of slow) connection.socket.destroy();
    const linesEchoed = slow.length - closedEarly.length - lineErrors.length;
    if (lineErrors.length > 0)
      failures.push(`${lineErrors.length} slow lines not echoed whole: ${describeCounts(lineErrors)}`);

    const p50 = latenciesMs.length === 0 ? Number.NaN : median(latenciesMs);
    const max = latenciesMs.length === 0 ? Number.NaN : Math.max(...latenciesMs);
    return {
      figure:
        `${slow.length} clients dribbling for ${dribbleSeconds.toFixed(1)} s, ${latenciesMs.length}/${sizes.freshClients} fresh ` +
        `clients served: p50 ${ms(p50)}, max ${ms(max)} (bound ${ms(sizes.freshBoundMs)}), ` +
        `${linesEchoed}/${sizes.slowlorisClients} slow lines echoed whole`,
      metrics: {
        slowClients: slow.length,
        dribbleSeconds: Math.round(dribbleSeconds * 10) / 10,
        dribbledBytes,
        freshServed: latenciesMs.length,
        freshP50Ms: Math.round(p50 * 100) / 100,
        freshMaxMs: Math.round(max * 100) / 100,
        slowLinesEchoed: linesEchoed,
      },
      failures,
    };
  },
};
