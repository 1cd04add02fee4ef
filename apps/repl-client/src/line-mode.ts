import type { Readable, Writable } from 'node:stream';
import {
  connect,
  connectUnix,
  DatagramClient,
  type DatagramAddress,
  type TestClient,
} from '@socketserver/client';
import type { Protocol } from './cli.js';
import { udpBindingFor } from './socket-address.js';

/** Options of {@link runLineMode}. */
export interface LineModeOptions {
  /** Server host; unused with `unixPath`. */
  host: string;
  /** Server port, 1-65535; unused with `unixPath`. */
  port: number;
  /**
   * The server's Unix socket path, instead of `host` and `port`; a Linux abstract name starts with
   * `'\0'`. Default (`undefined`): the server is at `host`:`port`.
   */
  unixPath?: string | undefined;
  /**
   * `'tcp'`: a stream server (TCP, or Unix stream with `unixPath`). `'udp'`: a datagram server (UDP, or
   * Unix datagram with `unixPath`): each line goes as one datagram, from a socket opened for the run.
   * Default (`undefined`): `'tcp'`.
   */
  protocol?: Protocol | undefined;
  /**
   * Once the input has ended, how long to wait for more responses, in milliseconds, counted from
   * the last line sent and again from each response. `0`: stop as soon as the input ends.
   */
  waitMs: number;
  /** Bound on connecting and on each send (or `sendTo`), in milliseconds: an integer from 1 to 2^31 - 1. */
  timeoutMs: number;
  /**
   * What to send, as it comes: each line with its `\n` (a last line without one gets one); to a
   * datagram server, one datagram a line.
   */
  input: Readable;
  /** Where the responses go, byte for byte, as they come (from a datagram server: every datagram received). */
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
 * closes. The server closing the connection also ends it. To a datagram server it sends each
 * line as one datagram and prints every datagram received; only the wait ends it. Resolves with
 * the exit code: 0, or 1 after one line on `errorOutput` (refused, reset, timeout, output closed).
 */
export async function runLineMode(options: LineModeOptions): Promise<number> {
  return options.protocol === 'udp' ? runDatagrams(options) : runStream(options);
}

/** Line mode over a TCP or Unix stream connection. */
async function runStream(options: LineModeOptions): Promise<number> {
  const { unixPath, timeoutMs } = options;
  let client: TestClient;
  try {
    client =
      unixPath === undefined
        ? await connect(options.host, options.port, { timeoutMs })
        : await connectUnix(unixPath, { timeoutMs });
  } catch (error) {
    return fail(options.errorOutput, error);
  }
  try {
    await converse(options, {
      async receive() {
        const chunk = await client.recv(receiveChunkBytes, { timeoutMs: maxReceiveWaitMs });
        // The server closed the connection: nothing more will come.
        return chunk.length === 0 ? undefined : chunk;
      },
      async sendInput(input) {
        let lastByte: number | undefined;
        for await (const chunk of input as AsyncIterable<Buffer | string>) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          if (bytes.length === 0) continue;
          await client.send(bytes, { timeoutMs });
          lastByte = bytes[bytes.length - 1];
        }
        if (lastByte !== undefined && lastByte !== newline) await client.send('\n', { timeoutMs });
      },
    });
    return lineModeExitCodes.done;
  } catch (error) {
    return fail(options.errorOutput, error);
  } finally {
    await client.close();
  }
}

/** Line mode to a UDP or Unix datagram server, from a socket bound for the run (Unix: a temporary path). */
async function runDatagrams(options: LineModeOptions): Promise<number> {
  const { unixPath, timeoutMs } = options;
  const server: DatagramAddress = unixPath ?? [options.host, options.port];
  let client: DatagramClient;
  try {
    client =
      unixPath === undefined
        ? await DatagramClient.openUDP(udpBindingFor(options.host))
        : await DatagramClient.openUnix();
  } catch (error) {
    return fail(options.errorOutput, error);
  }
  try {
    await converse(options, {
      async receive() {
        const [data] = await client.recvFrom({ timeoutMs: maxReceiveWaitMs });
        return data;
      },
      async sendInput(input) {
        for await (const line of inputLines(input)) await client.sendTo(line, server, { timeoutMs });
      },
    });
    return lineModeExitCodes.done;
  } catch (error) {
    return fail(options.errorOutput, error);
  } finally {
    await client.close();
  }
}

/** How {@link converse} talks over one kind of socket. */
interface Transport {
  /**
   * The next bytes that arrived, waiting at most `maxReceiveWaitMs`; `undefined` once nothing more
   * will come. Fails once the socket closes.
   */
  receive(): Promise<Buffer | undefined>;
  /** Sends every line of `input`, each with its `\n`, as it comes. */
  sendInput(input: Readable): Promise<void>;
}

async function converse(options: LineModeOptions, transport: Transport): Promise<void> {
  const { input, output, waitMs } = options;
  let isEnding = false;
  let idleTimer: NodeJS.Timeout | undefined;

  const receiving = (async (): Promise<void> => {
    for (;;) {
      let chunk: Buffer | undefined;
      try {
        chunk = await transport.receive();
      } catch (error) {
        if (isEnding) return;
        if (hasCode(error, 'ERR_TIMEOUT') && error.cause === undefined) continue;
        throw error;
      }
      if (chunk === undefined) return;
      await write(output, chunk);
      idleTimer?.refresh();
    }
  })();

  const sending = (async (): Promise<void> => {
    await transport.sendInput(input);
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

/** The lines of `input` as they come, each with its `\n`; a last line without one gets one. */
async function* inputLines(input: Readable): AsyncGenerator<Buffer> {
  let pending = Buffer.alloc(0);
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const bytes = Buffer.concat([pending, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
    let start = 0;
    for (let end = bytes.indexOf(newline); end !== -1; end = bytes.indexOf(newline, start)) {
      yield bytes.subarray(start, end + 1);
      start = end + 1;
    }
    pending = bytes.subarray(start);
  }
  if (pending.length > 0) yield Buffer.concat([pending, Buffer.from('\n')]);
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
