// Flood: the server starts under a low fd limit (ulimit -n 256) and N connections are opened at
// once, each sending a line. It runs out of descriptors: it must keep going, not die, and once the
// flood is over a fresh client is served. What happened to each client is counted, and so is what
// the server counted itself (its metrics endpoint: accepted, refused, accept errors). A second
// round runs with --max-connections at half the fd limit: then the server refuses, and counts, the
// excess before it runs out of descriptors.
import {
  EchoConnection,
  describeCounts,
  errorCode,
  freshCheck,
  freshClient,
  lineOf,
  pollUntil,
} from '../client.ts';
import type { SoakServer } from '../server.ts';
import { count, ms, type Scenario, type ScenarioContext } from '../scenario.ts';

/** How long a client may wait for its connect, and then for its echo or its close. */
const clientBoundMs = 30_000;
const fdSampleMs = 20;
const letGoWithinMs = 5_000;

type ClientOutcome =
  | { readonly kind: 'echoed' | 'hung' }
  | { readonly kind: 'closed' | 'connect-failed'; readonly code: string }
  | { readonly kind: 'wrong'; readonly what: string };

/** One client of the flood: connect, one line, its echo (or the server closing it). */
async function floodClient(server: SoakServer, index: number): Promise<ClientOutcome> {
  let connection: EchoConnection;
  try {
    connection = await EchoConnection.open(server.port, clientBoundMs);
  } catch (error) {
    return { kind: 'connect-failed', code: errorCode(error) };
  }
  try {
    connection.send(lineOf(`flood ${index}`, 64));
    await connection.echoed(clientBoundMs);
    return { kind: 'echoed' };
  } catch (error) {
    if (connection.mismatch !== undefined) return { kind: 'wrong', what: connection.mismatch };
    if (connection.ending === undefined) return { kind: 'hung' };
    if (connection.checker.receivedBytes > 0) return { kind: 'wrong', what: 'closed mid-echo' };
    return { kind: 'closed', code: errorCode(error) };
  } finally {
    connection.socket.destroy();
  }
}

/** `n what` and, when there are any, what each was: `3 closed unserved (ECONNRESET×3)`. */
const counted = (codes: readonly string[], what: string): string =>
  `${codes.length} ${what}${codes.length === 0 ? '' : ` (${describeCounts(codes)})`}`;

/** One flood against a fresh server started with `args` under the flood's fd limit. */
async function floodRound(
  { sizes, startServer }: ScenarioContext,
  args: readonly string[],
): Promise<{ figure: string; metrics: Record<string, number>; failures: string[] }> {
  const server = await startServer({ args, fdLimit: sizes.floodFdLimit, metrics: true });
  await freshClient(server.port, 30_000, 'warm-up');
  // Whether the flood reached the limit: the most fds one server process had open, sampled.
  let peakFds = server.mostFdsInOneProcess();
  const sample = (): void => void (peakFds = Math.max(peakFds, server.mostFdsInOneProcess()));
  const sampler = setInterval(sample, fdSampleMs);
  const startedAt = performance.now();
  let outcomes: ClientOutcome[];
  try {
    outcomes = await Promise.all(
      Array.from({ length: sizes.floodConnections }, async (_, index) => floodClient(server, index)),
    );
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const fresh = await freshCheck(server.port, sizes.freshBoundMs);

  const codes = (kind: 'closed' | 'connect-failed'): string[] =>
    outcomes.flatMap((outcome) => (outcome.kind === kind ? [outcome.code] : []));
  const closed = codes('closed');
  const connectFailed = codes('connect-failed');
  const echoed = outcomes.filter((outcome) => outcome.kind === 'echoed').length;
  const hung = outcomes.filter((outcome) => outcome.kind === 'hung').length;
  const wrong = outcomes.flatMap((outcome) => (outcome.kind === 'wrong' ? [outcome.what] : []));
  const failures = [
    ...wrong.slice(0, 3).map((what) => `wrong echo: ${what}`),
    ...(hung > 0
      ? [`${hung} connected clients got neither an echo nor a close within ${clientBoundMs / 1000} s`]
      : []),
    ...(fresh.failure === undefined ? [] : [fresh.failure]),
  ];

  const death = server.death;
  if (death !== undefined) failures.push(death);
  // Every client has gone: the server must have let go of each one (a request that never settles
  // keeps its worker's slot for good).
  let stats = new Map<string, number>();
  let held = Number.NaN;
  const isLetGo = async (): Promise<boolean> => {
    stats = await server.metrics();
    held =
      (stats.get('socketserver_requests_active') ?? Number.NaN) +
      (stats.get('socketserver_requests_waiting') ?? Number.NaN);
    return held === 0;
  };
  if (death === undefined) {
    await pollUntil(isLetGo, letGoWithinMs, 100, 'requests let go').catch((error: unknown) => {
      failures.push(
        Number.isNaN(held)
          ? `its metrics: ${(error as Error).message}`
          : `the server still holds ${held} request(s) ${letGoWithinMs / 1000} s after every client left`,
      );
    });
  }
  const acceptErrors = stats.get('socketserver_accept_errors_total') ?? Number.NaN;
  // Every connection the server's code saw, the warm-up and fresh clients included.
  const accepted = stats.get('socketserver_requests_accepted_total') ?? Number.NaN;
  const refused = [...stats].reduce(
    (sum, [name, value]) => (name.startsWith('socketserver_requests_refused_total') ? sum + value : sum),
    0,
  );
  const reports = server.stderrLines(/ERR_ACCEPT_FAILED/);
  // The next round starts its own server: stop this one (the runner stops it anyway).
  await server.stop();
  // Closed before the server's code saw them: under EMFILE libuv accepts and closes pending
  // connections itself (its reserve-descriptor fallback), and Node reports no error.
  const uncounted = Math.max(0, closed.length - refused - acceptErrors);
  return {
    figure:
      `${sizes.floodConnections} at once in ${seconds.toFixed(1)} s, server fds peaked at ` +
      `${peakFds}/${sizes.floodFdLimit}: ${echoed} echoed, ${counted(closed, 'closed unserved')}, ` +
      `${counted(connectFailed, 'connects failed')}, ${hung} left hanging; the server counted ${accepted} ` +
      `accepted, ${refused} refused, ${acceptErrors} accept errors (${reports} ERR_ACCEPT_FAILED lines), ` +
      `${uncounted} closed uncounted; fresh client ${ms(fresh.ms)}; ${held} request${held === 1 ? '' : 's'} still held after`,
    metrics: {
      peakFdsInOneProcess: peakFds,
      seconds: Math.round(seconds * 100) / 100,
      echoed,
      closedUnserved: closed.length,
      connectFailed: connectFailed.length,
      hung,
      serverAccepted: accepted,
      serverRefused: refused,
      acceptErrors,
      acceptFailedReports: reports,
      closedUncounted: uncounted,
      freshMs: Math.round(fresh.ms * 100) / 100,
      requestsHeldAfter: held,
    },
    failures,
  };
}

export const flood: Scenario = {
  id: 'flood',
  label: (sizes) => `flood-${count(sizes.floodConnections)}-fd${sizes.floodFdLimit}`,
  held:
    'the server, started under ulimit -n 256, does not die while N connections are opened at once ' +
    'and each sends a line; no echo is wrong and no connected client is left without its echo or a ' +
    'close for 30 s; a fresh client is served within 5 s afterwards, and within 5 s of the last ' +
    'client leaving the server holds no request (stats(): active and waiting 0). Failed accepts are counted ' +
    '(stats().acceptErrors, ERR_ACCEPT_FAILED on stderr) where Node reports them. The same again ' +
    'with --max-connections 128, half the fd limit',
  byDesign: (strategy, sizes) =>
    strategy.startsProcessPerConnection === true
      ? {
          reason:
            `a Node.js process is started for every connection: ${sizes.floodConnections} connections at once ` +
            'queue behind process starts for minutes on a few cores, and a fresh client waits behind them',
          fix: '--strategy pool --pool-kind process',
          rerunArgs: undefined,
        }
      : undefined,

  async run(context) {
    // Half the fd limit: the rest is the server's own (a thread pool's 16 event loops take ~100).
    const capped = ['--max-connections', String(context.sizes.floodFdLimit / 2)];
    const plain = await floodRound(context, []);
    const withCap = await floodRound(context, capped);
    return {
      figure: `${plain.figure}; with ${capped.join(' ')}: ${withCap.figure}`,
      metrics: {
        connections: context.sizes.floodConnections,
        fdLimit: context.sizes.floodFdLimit,
        ...plain.metrics,
        ...Object.fromEntries(
          Object.entries(withCap.metrics).map(([name, value]) => [`withMaxConnections.${name}`, value]),
        ),
      },
      failures: [
        ...plain.failures,
        ...withCap.failures.map((failure) => `with ${capped.join(' ')}: ${failure}`),
      ],
    };
  },
};
