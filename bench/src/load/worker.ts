// A load generator worker thread: runs its share of a scenario's connections and replies with
// its tally. Started by generator.ts; one scenario at a time.
import { parentPort } from 'node:worker_threads';
import { now, type IdleRequest, type WorkerCommand, type WorkerReply } from './protocol.ts';
import { connectLoop, IdleConnection, largeLoop, streamSession } from './sessions.ts';
import { TallyRecorder } from './tally-recorder.ts';

if (parentPort === null) throw new Error('worker.ts runs as a worker thread of generator.ts');
const port = parentPort;

const reply = (message: WorkerReply): void => port.postMessage(message);

/** The next command from the generator. */
function nextCommand(): Promise<WorkerCommand> {
  const { promise, resolve } = Promise.withResolvers<WorkerCommand>();
  port.once('message', resolve);
  return promise;
}

/** Opens this worker's idle connections, `concurrentConnects` at a time; holds them until told to close. */
async function runIdle(request: IdleRequest, firstId: number, count: number): Promise<void> {
  const deadline = now() + request.timeoutMs;
  const recorder = new TallyRecorder({
    windowStart: 0,
    windowEnd: Number.POSITIVE_INFINITY,
    drainEnd: deadline,
  });
  const connections: IdleConnection[] = [];
  let next = 0;
  const opener = async (): Promise<void> => {
    while (next < count && recorder.failureCount === 0) {
      const connection = new IdleConnection(request.port, firstId + next, deadline, recorder);
      next += 1;
      connections.push(connection);
      await connection.opened();
    }
  };
  await Promise.all(Array.from({ length: Math.min(count, request.concurrentConnects) }, opener));
  reply({ reply: 'opened', connections: recorder.connectionsOpened });
  const command = await nextCommand();
  if (command.command !== 'close') recorder.fail(`expected close, got ${command.command}`);
  const closeDeadline = now() + request.timeoutMs;
  await Promise.all(connections.map((connection) => connection.close(closeDeadline, recorder)));
  reply({ reply: 'tally', tally: recorder.toTally() });
}

for (let runs = 0; runs < 1_000_000; runs += 1) {
  const command = await nextCommand();
  if (command.command !== 'run') continue;
  const { request, firstId, count, startAt } = command;
  if (request.kind === 'idle') {
    await runIdle(request, firstId, count);
    continue;
  }
  const windowStart = startAt + request.warmupMs;
  const windowEnd = windowStart + request.durationMs;
  const recorder = new TallyRecorder({ windowStart, windowEnd, drainEnd: windowEnd + request.drainMs });
  const ids = Array.from({ length: count }, (_, index) => firstId + index);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - now()))); // a common start
  if (request.kind === 'stream') await Promise.all(ids.map((id) => streamSession(request, id, recorder)));
  else if (request.kind === 'connect') await Promise.all(ids.map((id) => connectLoop(request, id, recorder)));
  else await Promise.all(ids.map((id) => largeLoop(request, id, recorder)));
  reply({ reply: 'tally', tally: recorder.toTally() });
}
