// The load generator: its own process, so a server is measured from outside, spreading each
// scenario's connections over worker threads and merging what they measured (their HDR
// histograms included). Driven by the orchestrator over stdin/stdout, one JSON object a line
// (see protocol.ts); it exits when stdin ends.
//   node bench/src/load/generator.ts [--workers 2]
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { LineContent } from './line-content.ts';
import {
  now,
  maxDescribedFailures,
  startDelayMs,
  type GeneratorCommand,
  type GeneratorReply,
  type LoadRequest,
  type LoadTally,
  type WorkerCommand,
  type WorkerReply,
} from './protocol.ts';
import { echoOnce } from './sessions.ts';
import { buildLatencyHistogram } from './tally-recorder.ts';

const { values } = parseArgs({ options: { workers: { type: 'string', default: '2' } } });
const workerCount = Number(values.workers);
if (!Number.isInteger(workerCount) || workerCount < 1 || workerCount > 64) {
  process.stderr.write('generator: --workers must be an integer from 1 to 64\n');
  process.exit(2);
}

const send = (message: GeneratorReply): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};

const workers = Array.from({ length: workerCount }, () => {
  const worker = new Worker(new URL('worker.ts', import.meta.url));
  worker.on('error', (error) => {
    send({ reply: 'error', message: `a load generator worker failed: ${String(error)}` });
    process.exit(1);
  });
  return worker;
});
await Promise.all(workers.map((worker) => once(worker, 'online')));

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** The next command from the orchestrator; undefined once stdin ends. */
async function nextCommand(): Promise<GeneratorCommand | undefined> {
  const { value, done } = await lines.next();
  return done === true ? undefined : (JSON.parse(value) as GeneratorCommand);
}

const ask = (worker: Worker, command: WorkerCommand): void => worker.postMessage(command);
const replyOf = async (worker: Worker): Promise<WorkerReply> =>
  (await once(worker, 'message'))[0] as WorkerReply;

function merge(tallies: readonly LoadTally[]): LoadTally {
  const histogram = buildLatencyHistogram();
  let hasLatency = false;
  for (const tally of tallies) {
    if (tally.histogram === '') continue;
    const part = decodeFromCompressedBase64(tally.histogram);
    histogram.add(part);
    part.destroy();
    hasLatency = true;
  }
  const merged: LoadTally = {
    operations: tallies.reduce((sum, tally) => sum + tally.operations, 0),
    windowBytes: tallies.reduce((sum, tally) => sum + tally.windowBytes, 0),
    verifiedBytes: tallies.reduce((sum, tally) => sum + tally.verifiedBytes, 0),
    histogram: hasLatency ? encodeIntoCompressedBase64(histogram) : '',
    connectionsOpened: tallies.reduce((sum, tally) => sum + tally.connectionsOpened, 0),
    failureCount: tallies.reduce((sum, tally) => sum + tally.failureCount, 0),
    failures: tallies.flatMap((tally) => tally.failures).slice(0, maxDescribedFailures),
  };
  histogram.destroy();
  return merged;
}

/** Each worker's share of `total` connections: as even as can be, consecutive ids. */
function shares(total: number): { firstId: number; count: number }[] {
  return workers.map((_, index) => {
    const firstId = Math.floor((total * index) / workers.length);
    return { firstId, count: Math.floor((total * (index + 1)) / workers.length) - firstId };
  });
}

const totalOf = (request: LoadRequest): number =>
  request.kind === 'connect' ? request.loops : request.connections;

async function collectTallies(): Promise<LoadTally[]> {
  const replies = await Promise.all(workers.map(replyOf));
  return replies.map((reply) => {
    if (reply.reply !== 'tally') throw new Error(`a worker replied ${reply.reply}, expected its tally`);
    return reply.tally;
  });
}

async function run(request: LoadRequest): Promise<GeneratorReply> {
  const startedAt = now();
  const startAt = startedAt + startDelayMs; // every worker starts its connections at this instant
  if (request.kind === 'idle') {
    // Measured after a warm-up connection (connect, echo, close): the server's steady state.
    const warmup = await echoOnce(
      request,
      new LineContent(0, 64).lines(0, 1),
      now() + request.timeoutMs,
      undefined,
      'warm-up connection',
    );
    if (warmup !== undefined) return { reply: 'error', message: warmup };
    send({ reply: 'baseline' });
    const open = await nextCommand();
    if (open?.command !== 'open') return { reply: 'error', message: 'expected the open command' };
    const openedAt = now();
    for (const [index, share] of shares(request.connections).entries()) {
      ask(workers[index] as Worker, { command: 'run', request, ...share, startAt });
    }
    const opened = await Promise.all(workers.map(replyOf));
    const connections = opened.reduce(
      (sum, reply) => sum + (reply.reply === 'opened' ? reply.connections : 0),
      0,
    );
    send({ reply: 'opened', connections, elapsedMs: now() - openedAt });
    const close = await nextCommand();
    for (const worker of workers) ask(worker, { command: 'close' });
    const tally = merge(await collectTallies());
    if (close?.command !== 'close') return { reply: 'error', message: 'expected the close command' };
    return { reply: 'result', tally, elapsedMs: now() - startedAt };
  }
  for (const [index, share] of shares(totalOf(request)).entries()) {
    ask(workers[index] as Worker, { command: 'run', request, ...share, startAt });
  }
  const tally = merge(await collectTallies());
  return { reply: 'result', tally, elapsedMs: now() - startedAt };
}

for (let commands = 0; commands < 1_000_000; commands += 1) {
  const command = await nextCommand();
  if (command === undefined) break;
  if (command.command === 'ready') {
    // The first echo: pools start their workers after printing the port, and warm-up should not
    // be spent waiting for them. One connection, waiting in the accept queue if it must.
    const payload = new LineContent(999_999, 64).lines(0, 1);
    const failure = await echoOnce(command, payload, now() + command.timeoutMs, undefined, 'first echo');
    send(failure === undefined ? { reply: 'ready' } : { reply: 'ready', failure });
  } else if (command.command === 'run') {
    send(await run(command.request));
  } else {
    send({ reply: 'error', message: `unexpected command ${command.command}` });
  }
}
await Promise.all(workers.map((worker) => worker.terminate()));
