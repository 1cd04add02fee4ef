import { InvalidOptionError } from '@socketserver/core';
import { requireInteger, requireTimeoutMs } from '@socketserver/core/strategy';
import { BaseRequestHandler } from './base-request-handler.js';
import { LineReader } from './line-reader.js';
import type { SocketWriter } from './socket-writer.js';

/**
 * The keys of the server's `handlerOptions` that a {@link StreamRequestHandler} reads. Each one set
 * (not `undefined`) overrides the static field of the same name on the handler class: options travel
 * with the server to another thread or process, where a class is rebuilt without closure state.
 */
export interface StreamRequestHandlerOptions {
  /**
   * The longest line `rfile` accepts, in bytes, not counting its `\n`; an integer >= 1. A longer line
   * fails with `ERR_LINE_TOO_LONG`, which by default ends the connection. Default: the class's
   * `maxLineLength`, 65 536.
   */
  maxLineLength?: number;
  /**
   * How long one read from `rfile` or `request.recv` may wait for bytes, in ms (at most 2^31 - 1),
   * before it rejects with `ERR_IDLE_TIMEOUT`, which by default ends the connection; Python's
   * `timeout`. `0` turns it off, as in Node and Go (Python's `timeout = 0`, a non-blocking socket,
   * has no equivalent here). Default: the class's `timeoutMs`, `undefined`: no timeout.
   */
  timeoutMs?: number;
  /**
   * `true` sets TCP_NODELAY on the connection. `false` leaves it as the server set it (the server's
   * `noDelay`, on by default). Default: the class's `disableNagleAlgorithm`, `false`.
   */
  disableNagleAlgorithm?: boolean;
}

/**
 * Python's StreamRequestHandler: `setup()` gives the handler `rfile`, a {@link LineReader} over the
 * connection, and `wfile`, a {@link SocketWriter}. Python's class attributes are static fields that a
 * subclass overrides; the server's `handlerOptions` override them in turn.
 *
 * @example The recipe's stream echo handler:
 * ```ts
 * class EchoHandler extends StreamRequestHandler {
 *   override async handle(): Promise<void> {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * ```
 */
export class StreamRequestHandler extends BaseRequestHandler {
  /** See {@link StreamRequestHandlerOptions.maxLineLength}. Default 65 536. */
  static maxLineLength: number = 65_536;
  /** See {@link StreamRequestHandlerOptions.timeoutMs}. Default `undefined`: no timeout (0: none either). */
  static timeoutMs: number | undefined = undefined;
  /** See {@link StreamRequestHandlerOptions.disableNagleAlgorithm}. Default `false`. */
  static disableNagleAlgorithm: boolean = false;

  /** Lines from the client; set by `setup()`. */
  rfile!: LineReader;
  /** Writes to the client, waiting while its buffer is full; set by `setup()`. */
  wfile!: SocketWriter;

  /**
   * This class's settings under `handlerOptions`, validated: what `setup()` applies. Call it when the
   * server starts to reject bad options before the first connection; in `setup()` a bad option fails
   * each connection with `ERR_INVALID_OPTION`.
   */
  static resolveOptions(handlerOptions: Readonly<Record<string, unknown>>): {
    /** See {@link StreamRequestHandlerOptions.maxLineLength}. */
    maxLineLength: number;
    /** See {@link StreamRequestHandlerOptions.timeoutMs}; `undefined`: no timeout (the option was unset or 0). */
    timeoutMs: number | undefined;
    /** See {@link StreamRequestHandlerOptions.disableNagleAlgorithm}. */
    disableNagleAlgorithm: boolean;
  } {
    const option = (name: keyof StreamRequestHandlerOptions): unknown => handlerOptions[name] ?? this[name];
    const disableNagleAlgorithm = option('disableNagleAlgorithm');
    if (typeof disableNagleAlgorithm !== 'boolean') {
      throw new InvalidOptionError('disableNagleAlgorithm', disableNagleAlgorithm, 'a boolean');
    }
    return {
      maxLineLength: requireInteger('maxLineLength', option('maxLineLength'), 1),
      timeoutMs: requireTimeoutMs('timeoutMs', option('timeoutMs')),
      disableNagleAlgorithm,
    };
  }

  override setup(): void {
    const HandlerClass = this.constructor as typeof StreamRequestHandler;
    const options = HandlerClass.resolveOptions(this.server.handlerOptions);
    this.request.timeoutMs = options.timeoutMs;
    if (options.disableNagleAlgorithm) this.request.setNoDelay(true);
    this.rfile = new LineReader(this.request, { maxLineLength: options.maxLineLength });
    // One writer for wfile and request.send; answers to pipelined lines still in rfile (which
    // counts the request's unread bytes too) are sent together (see SocketWriter).
    this.wfile = this.request.writer;
    this.wfile.input = this.rfile;
  }
}
