import {
  type ClientAddress,
  type DatagramRequest,
  type DatagramSocket,
  type HandlerServer,
} from '@socketserver/core';
import { requireInteger } from '@socketserver/core/strategy';
import { BaseDatagramRequestHandler } from './base-datagram-request-handler.js';
import { DatagramWriter } from './datagram-writer.js';
import { LineReader, type ByteSource } from './line-reader.js';

/**
 * The keys of the server's `handlerOptions` that a {@link DatagramRequestHandler} reads. Each one set
 * (not `undefined`) overrides the static field of the same name on the handler class: options travel
 * with the server to another thread or process, where a class is rebuilt without closure state.
 */
export interface DatagramRequestHandlerOptions {
  /**
   * The longest line `rfile` accepts, in bytes, not counting its `\n`; an integer >= 1. A longer line
   * fails with `ERR_LINE_TOO_LONG`, which by default fails the request. Default: the class's
   * `maxLineLength`, 65 536.
   */
  maxLineLength?: number;
  /**
   * The longest reply `wfile` collects, in bytes; an integer >= 1. A write past it rejects with
   * `ERR_SEND_FAILED`, which by default fails the request, and no reply is sent. Default: the class's
   * `maxReplySize`, 65 507, the largest UDP payload.
   */
  maxReplySize?: number;
}

/**
 * Python's DatagramRequestHandler: the datagram's bytes as a stream. `setup()` gives the handler
 * `rfile`, a {@link LineReader} over the datagram (its end is EOF), and `wfile`, a
 * {@link DatagramWriter} collecting the reply, which `finish()` sends back to `clientAddress` in one
 * datagram. Python's class attributes are static fields that a subclass overrides; the server's
 * `handlerOptions` override them in turn.
 *
 * Unlike Python, `finish()` sends nothing when the handler wrote nothing: no empty datagram. As in
 * Python, it sends what was written even when `handle()` threw; but never a reply that overflowed
 * `maxReplySize` (Python's `sendto` would fail on it with EMSGSIZE, sending nothing either). A reply
 * that cannot be sent rejects `finish()`, so its ERR_SEND_FAILED reaches the server's `handleError`.
 *
 * @example The recipe's UDP echo handler, in its stream form:
 * ```ts
 * class EchoHandler extends DatagramRequestHandler {
 *   override async handle(): Promise<void> {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * ```
 */
export class DatagramRequestHandler extends BaseDatagramRequestHandler {
  /** See {@link DatagramRequestHandlerOptions.maxLineLength}. Default 65 536. */
  static maxLineLength: number = 65_536;
  /** See {@link DatagramRequestHandlerOptions.maxReplySize}. Default 65 507. */
  static maxReplySize: number = 65_507;

  /** The datagram received, Python's `packet`: `request[0]`. */
  readonly packet: Buffer;
  /** The server's socket, Python's `socket`: `request[1]`. */
  readonly socket: DatagramSocket;
  /** Lines of the datagram, EOF at its end; set by `setup()`. */
  rfile!: LineReader;
  /** Collects the reply that `finish()` sends; set by `setup()`. */
  wfile!: DatagramWriter;

  constructor(request: DatagramRequest, clientAddress: ClientAddress, server: HandlerServer) {
    super(request, clientAddress, server);
    [this.packet, this.socket] = request;
  }

  /**
   * This class's settings under `handlerOptions`, validated: what `setup()` applies. Call it when the
   * server starts to reject bad options before the first datagram; in `setup()` a bad option fails
   * each request with `ERR_INVALID_OPTION`.
   */
  static resolveOptions(handlerOptions: Readonly<Record<string, unknown>>): {
    /** See {@link DatagramRequestHandlerOptions.maxLineLength}. */
    maxLineLength: number;
    /** See {@link DatagramRequestHandlerOptions.maxReplySize}. */
    maxReplySize: number;
  } {
    const option = (name: keyof DatagramRequestHandlerOptions): unknown => handlerOptions[name] ?? this[name];
    return {
      maxLineLength: requireInteger('maxLineLength', option('maxLineLength'), 1),
      maxReplySize: requireInteger('maxReplySize', option('maxReplySize'), 1),
    };
  }

  override setup(): void {
    const HandlerClass = this.constructor as typeof DatagramRequestHandler;
    const options = HandlerClass.resolveOptions(this.server.handlerOptions);
    this.rfile = new LineReader(packetSource(this.packet), { maxLineLength: options.maxLineLength });
    this.wfile = new DatagramWriter({ maxReplySize: options.maxReplySize });
  }

  /**
   * Send what `wfile` collected to `clientAddress` in one datagram, if anything: nothing when the
   * handler wrote nothing, when its reply overflowed `maxReplySize`, or when `setup()` failed before
   * making `wfile`. Rejects with `ERR_SEND_FAILED` when the datagram cannot be sent.
   */
  override finish(): Promise<void> {
    const wfile = this.wfile as DatagramWriter | undefined; // undefined when setup() failed
    if (wfile === undefined || wfile.writtenLength === 0 || wfile.hasOverflowed) return Promise.resolve();
    return this.socket.sendTo(wfile.contents(), this.clientAddress);
  }
}

/** The datagram as a {@link ByteSource}: its bytes as asked for, then EOF (an empty Buffer). */
function packetSource(packet: Buffer): ByteSource {
  let offset = 0;
  return {
    recv(maxBytes: number): Promise<Buffer> {
      const chunk = packet.subarray(offset, offset + maxBytes);
      offset += chunk.length;
      return Promise.resolve(chunk);
    },
    get bufferedLength(): number {
      return packet.length - offset;
    },
  };
}
