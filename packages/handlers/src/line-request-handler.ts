import { StreamRequestHandler } from './stream-request-handler.js';

/**
 * What {@link LineRequestHandler.handleLine} returns: the bytes to send back (a string as UTF-8), or
 * nothing to send.
 */
export type LineReply = Uint8Array | string | undefined | void;

/**
 * A line protocol handler without a promise per line, as Netty's `channelRead`: override
 * {@link LineRequestHandler.handleLine}, which the handler calls for every line, `\n` included,
 * synchronously for all the lines that one read of the socket brought. What it returns is the reply;
 * the replies to one read go out together in one socket write, and lines that lie next to each other
 * in memory, as an echo's do, go out without a copy. It returns a promise only when it must wait (a
 * database, a file): the next line waits for it, so replies keep their order.
 *
 * Everything else is {@link StreamRequestHandler}'s: the same `maxLineLength` (a longer line ends
 * the connection with `ERR_LINE_TOO_LONG`), `timeoutMs` for a read that waits, and backpressure (a
 * client that stops reading stops the handler at the socket's high-water mark, and so the reading).
 * At EOF, a final line without its `\n` is handled too. `rfile` and `wfile` stay usable from
 * `handleLine` (say, to read a body of known length with `rfile.read(n)`, returning a promise).
 *
 * Do not override `handle()`: it is the loop that calls `handleLine`.
 *
 * @example The recipe's stream echo as a line handler:
 * ```ts
 * class EchoHandler extends LineRequestHandler {
 *   override handleLine(line: Buffer): Buffer {
 *     return line;
 *   }
 * }
 * ```
 */
export class LineRequestHandler extends StreamRequestHandler {
  #isEnded = false;

  /**
   * Handles one line (the exact bytes received, `\n` included; the final line at EOF may lack it) and
   * returns the reply, or a promise of it. Default: no reply.
   */
  handleLine(line: Buffer): LineReply | Promise<LineReply> {
    void line;
    return undefined;
  }

  /**
   * Read no more lines: `handle()` returns once the current line's reply is sent, and the server ends
   * the connection (`finish()`, then a clean close). Lines already received and not handled are
   * dropped.
   */
  endConnection(): void {
    this.#isEnded = true;
  }

  /** The loop: one promise per read of the socket, none per line. */
  override async handle(): Promise<void> {
    const { rfile, wfile } = this;
    try {
      while (!this.#isEnded) {
        let line = rfile.bufferedLine();
        if (line === undefined) {
          // The lines of this read are handled: send their replies, then wait for more.
          if (!wfile.flush()) await wfile.drain();
          line = await rfile.readline();
          if (line.length === 0) break; // EOF
        }
        const reply = this.handleLine(line);
        if (reply === undefined) continue;
        if (typeof reply === 'string' || reply instanceof Uint8Array) {
          if (!wfile.gather(reply)) await wfile.drain();
          continue;
        }
        wfile.flush(); // the replies so far go out while this one is awaited
        const awaited = await reply;
        if (awaited !== undefined && !wfile.gather(awaited)) await wfile.drain();
      }
    } finally {
      wfile.flush();
    }
  }
}
