// The connections a worker drives, one function per scenario kind. Each resolves once its
// connection is closed; a wrong, missing or extra byte, an error or a deadline is recorded as a
// failure (and the connection destroyed), never thrown. Loopback only; every loop is bounded.
import net from 'node:net';
import tls from 'node:tls';
import { EchoChecker } from './echo-checker.ts';
import { LineContent, minLineBytes } from './line-content.ts';
import {
  now,
  type ConnectRequest,
  type Endpoint,
  type LargeRequest,
  type StreamRequest,
} from './protocol.ts';
import type { TallyRecorder } from './tally-recorder.ts';

export const host = '127.0.0.1';
/** No loop runs more iterations than this, whatever the window. */
const maxIterations = 10_000_000;

/** A timer at epoch time `at` (fires at once if that has passed). */
const timerAt = (at: number, callback: () => void): NodeJS.Timeout =>
  setTimeout(callback, Math.max(0, at - now()));

/**
 * A connection to `endpoint`, and the event that says it is ready for the load: `connect`, or over
 * TLS `secureConnect` (the server's certificate checked against `tlsCa`, for 127.0.0.1).
 */
function connectTo(endpoint: Endpoint): { socket: net.Socket; readyEvent: 'connect' | 'secureConnect' } {
  if (endpoint.tlsCa === undefined) {
    return { socket: net.connect({ host, port: endpoint.port, noDelay: true }), readyEvent: 'connect' };
  }
  const socket = tls.connect({ host, port: endpoint.port, ca: endpoint.tlsCa });
  socket.setNoDelay(true); // applied once it connects
  return { socket, readyEvent: 'secureConnect' };
}

const describe = (error: unknown): string => {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return typeof code === 'string' ? code : String(message ?? error);
};

/**
 * One connection keeping `request.window` lines outstanding until the window ends, then waiting
 * for the rest of the echo until the drain ends, then closing (its FIN answered by the server's).
 */
export function streamSession(
  request: StreamRequest,
  connectionId: number,
  recorder: TallyRecorder,
): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const { lineBytes, window } = request;
  const content = new LineContent(connectionId, lineBytes);
  const checker = new EchoChecker();
  const { socket, readyEvent } = connectTo(request);
  let sequence = 0;
  let isSending = true;
  let hasFailed = false;
  let lastSentAt = 0;
  const fail = (description: string): void => {
    if (hasFailed) return;
    hasFailed = true;
    recorder.fail(`connection ${connectionId}: ${description}`);
    socket.destroy();
  };
  const outstandingLines = (): number => sequence - Math.floor(checker.receivedBytes / lineBytes);
  const fill = (): void => {
    const count = window - outstandingLines();
    if (count <= 0) return;
    const lines = content.lines(sequence, count);
    sequence += count;
    checker.expect(lines);
    lastSentAt = now();
    socket.write(lines);
  };
  const stopSending = (): void => {
    isSending = false;
    if (checker.outstandingBytes === 0 && !hasFailed) socket.end();
  };
  const windowTimer = timerAt(recorder.phases.windowEnd, stopSending);
  const drainTimer = timerAt(recorder.phases.drainEnd, () =>
    fail(`${checker.outstandingBytes} byte(s) never echoed (or the server did not close)`),
  );
  socket.once(readyEvent, () => {
    recorder.connectionsOpened += 1;
    if (isSending) fill();
    else stopSending();
  });
  socket.on('data', (chunk: Buffer) => {
    const linesBefore = Math.floor(checker.receivedBytes / lineBytes);
    const problem = checker.check(chunk);
    if (problem !== undefined) return fail(problem);
    const time = now();
    recorder.received(chunk.length, time);
    const newLines = Math.floor(checker.receivedBytes / lineBytes) - linesBefore;
    if (newLines > 0) {
      if (request.recordLatency) recorder.completed(lastSentAt, time, true);
      else recorder.completedMany(newLines, time);
    }
    if (isSending && time < recorder.phases.windowEnd && sequence < maxIterations) fill();
    else stopSending();
  });
  socket.on('end', () => {
    if (checker.outstandingBytes > 0)
      fail(`the server closed with ${checker.outstandingBytes} byte(s) not echoed`);
    else if (isSending) fail('the server closed the connection while the client was sending');
  });
  socket.on('error', (error) => fail(describe(error)));
  socket.on('close', () => {
    clearTimeout(windowTimer);
    clearTimeout(drainTimer);
    resolve();
  });
  return promise;
}

/**
 * One connection that sends `payload`, reads its echo and closes. Resolves with whether it all
 * went well; a failure is recorded under `label`.
 */
export function echoOnce(
  endpoint: Endpoint,
  payload: Buffer,
  deadline: number,
  recorder: TallyRecorder | undefined,
  label: string,
): Promise<string | undefined> {
  const { promise, resolve } = Promise.withResolvers<string | undefined>();
  const checker = new EchoChecker();
  const { socket, readyEvent } = connectTo(endpoint);
  let failure: string | undefined;
  const fail = (description: string): void => {
    if (failure !== undefined) return;
    failure = `${label}: ${description}`;
    recorder?.fail(failure);
    socket.destroy();
  };
  const timer = timerAt(deadline, () =>
    fail(`timed out with ${checker.outstandingBytes} of ${payload.length} byte(s) not echoed`),
  );
  socket.once(readyEvent, () => {
    if (recorder !== undefined) recorder.connectionsOpened += 1;
  });
  checker.expect(payload);
  socket.write(payload);
  socket.on('data', (chunk: Buffer) => {
    const problem = checker.check(chunk);
    if (problem !== undefined) return fail(problem);
    recorder?.received(chunk.length, now());
    if (checker.outstandingBytes === 0) socket.end();
  });
  socket.on('end', () => {
    if (checker.outstandingBytes > 0)
      fail(`the server closed with ${checker.outstandingBytes} byte(s) not echoed`);
  });
  socket.on('error', (error) => fail(describe(error)));
  socket.on('close', () => {
    clearTimeout(timer);
    resolve(failure);
  });
  return promise;
}

/** Loop `loopId`: connect, one line, its echo, close; until the window ends or a failure. */
export async function connectLoop(
  request: ConnectRequest,
  loopId: number,
  recorder: TallyRecorder,
): Promise<void> {
  const content = new LineContent(loopId, request.lineBytes);
  for (let sequence = 0; sequence < maxIterations && now() < recorder.phases.windowEnd; sequence += 1) {
    const startedAt = now();
    const label = `loop ${loopId}, connection ${sequence}`;
    const failure = await echoOnce(
      request,
      content.lines(sequence, 1),
      recorder.phases.drainEnd,
      recorder,
      label,
    );
    if (failure !== undefined) return;
    recorder.completed(startedAt, now(), true);
  }
}

/** Loop `loopId`: connect, send `transferBytes` as lines, read them all back, close; until the window ends. */
export async function largeLoop(
  request: LargeRequest,
  loopId: number,
  recorder: TallyRecorder,
): Promise<void> {
  const content = new LineContent(loopId, request.lineBytes);
  const linesPerTransfer = Math.ceil(request.transferBytes / request.lineBytes);
  for (let transfer = 0; transfer < maxIterations && now() < recorder.phases.windowEnd; transfer += 1) {
    const startedAt = now();
    const payload = content.lines(transfer * linesPerTransfer, linesPerTransfer);
    const label = `loop ${loopId}, transfer ${transfer}`;
    const failure = await echoOnce(request, payload, recorder.phases.drainEnd, recorder, label);
    if (failure !== undefined) return;
    recorder.completed(startedAt, now(), true);
  }
}

/** One idle connection: it echoes one short line, then stays open until `close()`. */
export class IdleConnection {
  readonly #socket: net.Socket;
  readonly #opened: Promise<string | undefined>;
  readonly #closed: Promise<void>;
  #failure: string | undefined;
  #isClosing = false;

  constructor(port: number, connectionId: number, deadline: number, recorder: TallyRecorder) {
    const line = new LineContent(connectionId, minLineBytes).lines(0, 1);
    const checker = new EchoChecker();
    const opened = Promise.withResolvers<string | undefined>();
    const closed = Promise.withResolvers<void>();
    this.#opened = opened.promise;
    this.#closed = closed.promise;
    const socket = net.connect({ host, port, noDelay: true });
    this.#socket = socket;
    const fail = (description: string): void => {
      if (this.#failure !== undefined) return;
      this.#failure = `idle connection ${connectionId}: ${description}`;
      recorder.fail(this.#failure);
      socket.destroy();
      opened.resolve(this.#failure);
    };
    const timer = timerAt(deadline, () => fail('no echo before the deadline'));
    checker.expect(line);
    socket.write(line);
    socket.on('data', (chunk: Buffer) => {
      const problem = checker.check(chunk);
      if (problem !== undefined) return fail(problem);
      recorder.received(chunk.length, now());
      if (checker.outstandingBytes === 0) {
        clearTimeout(timer);
        recorder.connectionsOpened += 1;
        opened.resolve(undefined);
      }
    });
    socket.on('end', () => {
      if (!this.#isClosing) fail('the server closed an idle connection');
    });
    socket.on('error', (error) => fail(describe(error)));
    socket.on('close', () => {
      clearTimeout(timer);
      opened.resolve(this.#failure ?? 'closed');
      closed.resolve();
    });
  }

  /** Resolves once the echo came back (undefined) or the connection failed (what went wrong). */
  opened(): Promise<string | undefined> {
    return this.#opened;
  }

  /** Ends the connection and waits for it to close (destroys it at `deadline`). */
  async close(deadline: number, recorder: TallyRecorder): Promise<void> {
    this.#isClosing = true;
    this.#socket.end();
    const timer = timerAt(deadline, () => {
      recorder.fail('an idle connection did not close in time');
      this.#socket.destroy();
    });
    await this.#closed;
    clearTimeout(timer);
  }
}
