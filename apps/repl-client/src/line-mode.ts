import type { Readable, Writable } from 'node:stream';
import { connect, type TestClient } from '@socketserver/client';

/** Options of {@link runLineMode}. */
export interface LineModeOptions {
  /** Server host. */
  host: string;
  /** Server port, 1-65535. */
  port: number;
  /**
   * Once the input has ended, how long to wait for more responses, in milliseconds, counted from
   * the last line sent and again from each response. `0`: stop as soon as the input ends.
   */
  waitMs: number;
  /** Bound on connecting and on each send, in milliseconds: an integer from 1 to 2^31 - 1. */
  timeoutMs: number;
  /** What to send, as it comes: each line with its `\n` (a last line without one gets one). */
  input: Readable;
  /** Where the responses go, byte for byte, as they come. */
  output: Writable;
  /** Where a failure is reported, as one line. */
  errorOutput: Writable;
}

/** Exit codes of line mode. */
export const lineModeExitCodes = { done: 0, failed: 1 } as const;

/** Bytes asked of each `recv`. */
const receiveChunkBytes = 65_536;
/** The longest wait of one `recv`: the largest delay `setTimeout` honours (about 24.8 days). */
const maxReceiveWaitMs = 2 ** 31 - 1;
const newline = 0x0a;

/**
 * The line client: connects, sends the input as it comes while printing every response as it
 * comes, and once the input has ended waits `waitMs` after the last line or response, then
 * closes. The server closing the connection also ends it. Resolves with the exit code: 0, or 1
 * after one line on `errorOutput` (refused, reset, timeout, output closed).
 */
export async function runLineMode(options: LineModeOptions): Promise<number> {
  let client: TestClient;
  try {
    client = await connect(options.host, options.port, { timeoutMs: options.timeoutMs });
  } catch (error) {
    return fail(options.errorOutput, error);
  }
  try {
    await converse(client, options);
    return lineModeExitCodes.done;
  } catch (error) {
    return fail(options.errorOutput, error);
  } finally {
    await client.close();
  }
}

async function converse(client: TestClient, options: LineModeOptions): Promise<void> {
  const { input, output, waitMs, timeoutMs } = options;
  let isEnding = false;
  let idleTimer: NodeJS.Timeout | undefined;

  const receiving = (async (): Promise<void> => {
    for (;;) {
      let chunk: Buffer;
      try {
        chunk = await client.recv(receiveChunkBytes, { timeoutMs: maxReceiveWaitMs });
      } catch (error) {
        if (isEnding) return;
        if (hasCode(error, 'ERR_TIMEOUT') && error.cause === undefined) continue;
        throw error;
      }
      if (chunk.length === 0) return; // The server closed the connection: nothing more will come.
      await write(output, chunk);
      idleTimer?.refresh();
    }
  })();

  const sending = (async (): Promise<void> => {
    let lastByte: number | undefined;
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (bytes.length === 0) continue;
      await client.send(bytes, { timeoutMs });
      lastByte = bytes[bytes.length - 1];
    }
    if (lastByte !== undefined && lastByte !== newline) await client.send('\n', { timeoutMs });
    const idle = Promise.withResolvers<void>();
    idleTimer = setTimeout(idle.resolve, waitMs);
    await idle.promise;
  })();

  const outputFailure = Promise.withResolvers<never>();
  const onOutputError = (error: Error): void => outputFailure.reject(new OutputError(error));
  output.on('error', onOutputError);
  try {
    await Promise.race([receiving, sending, outputFailure.promise]);
  } finally {
    isEnding = true;
    clearTimeout(idleTimer);
    output.off('error', onOutputError);
    // The server may have closed first: stop reading the input, which may be a terminal.
    if (!input.readableEnded) input.destroy();
  }
}

/** Writes `chunk`, waiting for `'drain'` when the stream asks to; the wait also ends on `'close'` or `'error'`. */
async function write(output: Writable, chunk: Buffer): Promise<void> {
  if (output.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      output.off('drain', done);
      output.off('close', done);
      output.off('error', done);
      resolve();
    };
    output.on('drain', done);
    output.on('close', done);
    output.on('error', done);
  });
}

/** The output stream failed (a closed pipe): reported as one line like a connection failure. */
class OutputError extends Error {
  constructor(cause: Error) {
    super(`cannot write the responses: ${cause.message}`, { cause });
  }
}

/** Reports an expected failure as one line and returns its exit code; rethrows anything else (a bug). */
function fail(errorOutput: Writable, error: unknown): number {
  const isExpected = error instanceof OutputError || (error instanceof Error && error.name === 'ClientError');
  if (!isExpected) throw error;
  errorOutput.write(`repl-client: ${error.message}\n`);
  return lineModeExitCodes.failed;
}

function hasCode(error: unknown, code: string): error is Error & { code: string } {
  return error instanceof Error && 'code' in error && error.code === code;
}
