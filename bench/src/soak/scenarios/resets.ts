// Resets mid-line: each client gets one line echoed, sends half of another and resets the
// connection (RST, socket.resetAndDestroy()). Nothing may leak: the server tree's open fds go back
// to where they were, and a fresh client is served.
import {
  EchoConnection,
  describeCounts,
  errorCode,
  forEachLimited,
  freshCheck,
  pollUntil,
} from '../client.ts';
import type { SoakServer } from '../server.ts';
import { count, ms, type Scenario } from '../scenario.ts';

const resetsAtOnce = 50;
const processStartsAtOnce = 8;
/** A thread strategy keeps an idle thread 10 s (and its descriptors) before it retires it. */
const fdsBackWithinMs = 20_000;
/** /proc has no event: the fd count is read this often while waiting. */
const fdPollMs = 50;

/**
 * The fd count once it has not changed for 300 ms (read every 100 ms): the server settled after
 * its warm-up. After 10 s of changes, the last reading, marked not steady.
 */
async function steadyFdCount(server: SoakServer): Promise<{ fds: number; isSteady: boolean }> {
  let fds = server.fdCount();
  let sameReadings = 0;
  try {
    await pollUntil(
      () => {
        const now = server.fdCount();
        sameReadings = now === fds ? sameReadings + 1 : 0;
        fds = now;
        return sameReadings > 3;
      },
      10_000,
      100,
      'a steady fd count',
    );
    return { fds, isSteady: true };
  } catch {
    return { fds, isSteady: false }; // shown in the figure
  }
}

export const resets: Scenario = {
  id: 'resets',
  label: (sizes) => `resets-${count(sizes.resets)}`,
  held:
    'every client gets its first line echoed before it resets mid-line; afterwards the open fds of ' +
    'the server tree are back to their baseline (taken after a warm-up round of 100 resets) within ' +
    '20 s, and a fresh client is served',

  async run({ strategy, sizes, extraArgs, startServer }) {
    const server = await startServer();
    // No more at once than the strategy serves: a client waits for no slot. A process started per
    // connection (fork) is a Node.js start-up each: a few at once, or they starve each other past
    // the server's start deadline (10 s) on a couple of cores.
    const atOnce = Math.min(
      strategy.startsProcessPerConnection === true ? processStartsAtOnce : resetsAtOnce,
      strategy.capacity(extraArgs).connections,
    );
    const errors: string[] = [];
    let resetCount = 0;
    let peakFds = 0;
    const resetClients = async (count: number): Promise<void> =>
      forEachLimited(count, atOnce, async (index) => {
        let connection: EchoConnection | undefined;
        try {
          connection = await EchoConnection.open(server.port, 30_000);
          const half = Buffer.from(`reset ${index}: half a line, no newline`);
          connection.send(Buffer.concat([Buffer.from(`reset ${index}: a whole line\n`), half]));
          await connection.echoed(30_000, half.length); // the whole line back: the server is reading
          connection.socket.resetAndDestroy();
          resetCount += 1;
          if (index % 100 === 0) peakFds = Math.max(peakFds, server.fdCount());
        } catch (error) {
          errors.push(errorCode(error));
          connection?.socket.destroy();
        }
      });
    // A warm-up round first: a pool's workers open descriptors of their own on their first
    // connections (a thread pool: 15 for 16 threads), which is not a leak.
    await resetClients(2 * resetsAtOnce);
    const { fds: baselineFds, isSteady } = await steadyFdCount(server);
    [resetCount, peakFds] = [0, baselineFds];
    const startedAt = performance.now();
    await resetClients(sizes.resets);
    const resetSeconds = (performance.now() - startedAt) / 1000;
    const failures: string[] = [];
    if (errors.length > 0)
      failures.push(`${errors.length} clients failed before their reset: ${describeCounts(errors)}`);

    let fds = server.fdCount();
    const waitStartedAt = performance.now();
    let backMs = Number.NaN;
    try {
      await pollUntil(() => (fds = server.fdCount()) <= baselineFds, fdsBackWithinMs, fdPollMs, 'fds back');
      backMs = performance.now() - waitStartedAt;
    } catch {
      failures.push(`${fds} fds open ${fdsBackWithinMs / 1000} s later, not back to ${baselineFds}`);
    }
    const fresh = await freshCheck(server.port, sizes.freshBoundMs);
    if (fresh.failure !== undefined) failures.push(fresh.failure);
    return {
      figure:
        `${resetCount}/${sizes.resets} reset mid-line in ${resetSeconds.toFixed(1)} s; server fds ${baselineFds}${isSteady ? '' : ' (not steady)'} → ` +
        `${peakFds} → ${fds}${Number.isNaN(backMs) ? '' : ` (back in ${ms(backMs)})`}; fresh client ${ms(fresh.ms)}`,
      metrics: {
        resets: resetCount,
        baselineFds,
        baselineSteady: isSteady ? 1 : 0,
        peakFds,
        fdsAfter: fds,
        fdsBackMs: Math.round(backMs),
        freshMs: Math.round(fresh.ms * 100) / 100,
        errorReportsOnStderr: server.stderrLines(/^Error handling request/),
      },
      failures,
    };
  },
};
