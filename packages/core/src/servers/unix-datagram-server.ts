import { unlinkSync } from 'node:fs';
import type { DatagramAddress, DatagramRequest } from './datagram-socket.js';
import {
  DatagramServer,
  type DatagramReceiver,
  type DatagramServerOptions,
  type DatagramTransport,
} from './datagram-server.js';
import { describeUnixPath, SendError, UnsupportedOptionError } from '../support/errors.js';
import { loadDgramSocket, sendDatagram, systemError } from '../platform/unix-dgram.js';
import { rejectWith, type RequestHandlerClass } from '../request/request-handler.js';
import { isAbstractPath, validateUnixPath } from '../platform/server-address.js';
import { bindWithMode, validateMode } from '../platform/unix-path.js';

/** Options of {@link UnixDatagramServer}. */
export interface UnixDatagramServerOptions extends DatagramServerOptions {
  /**
   * The socket file's permission bits: `0o660` lets the group send, for example. The file is
   * created with them (the umask is set to match around the bind, then restored), so no chmod
   * follows its path afterwards; in a worker thread, which may not set the umask, the file is
   * checked to be a socket, then chmod-ed (see `UnixStreamServerOptions.mode`). Default:
   * what the umask leaves. Not for an abstract name, which has no file.
   */
  mode?: number;
}

/**
 * Python's UnixDatagramServer: a {@link DatagramServer} on a Unix-domain datagram socket path. A
 * sender's `clientAddress` is the path its socket is bound to; a sender that did not bind has none
 * (`''`) and cannot be answered. Abstract names are refused (ERR_UNSUPPORTED_OPTION), and a sender
 * bound to one arrives as `''`: node-unix-socket pads abstract names to the whole of `sun_path`.
 *
 * Stale socket files are removed and reused, a live owner's path is refused, the file is removed on
 * close, and `mode` sets its permissions, as for {@link UnixStreamServer}.
 *
 * Node has no Unix datagram sockets of its own: this uses `node-unix-socket` (prebuilt N-API
 * binaries for Linux and macOS), loaded only when such a server binds. It reads at most 65 535
 * bytes of a datagram, so a longer one is reported as 65 535 bytes long.
 */
export class UnixDatagramServer extends DatagramServer<string> {
  /** The socket file's permission bits; see {@link UnixDatagramServerOptions.mode}. */
  readonly mode: number | undefined;

  constructor(
    path: string,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: UnixDatagramServerOptions = {},
  ) {
    super(validateUnixPath(path), RequestHandlerClass, options);
    this.mode = validateMode(options.mode, path);
    if (isAbstractPath(path)) {
      throw new UnsupportedOptionError(
        'an abstract name for UnixDatagramServer',
        'node-unix-socket binds it padded with NUL bytes to the whole of sun_path, so a peer that ' +
          'addresses the name exactly could not reach it; use a socket path',
      );
    }
    if (options.bindAndActivate ?? true) this.bindAndActivate();
  }

  protected override bindTransport(receive: DatagramReceiver): Promise<DatagramTransport> {
    const path = this.serverAddress;
    const socket = new (loadDgramSocket())();
    try {
      bindWithMode(
        path,
        this.mode,
        () => {
          try {
            socket.bind(path);
          } catch (error) {
            throw systemError(error, 'bind');
          }
        },
        () => removeSocketFile(path), // bound, then the mode could not be set
      );
    } catch (error) {
      socket.close();
      return rejectWith(error);
    }
    socket.on('data', (data: Buffer, from: string) => receive(data, { family: 'Unix', path: from }));
    socket.on('error', (error: Error) => this.reportServerError(error));
    return Promise.resolve({
      send: (data, destination) => {
        const to = destination as string;
        return sendDatagram(socket, data, to, `send to ${describeUnixPath(to)}`);
      },
      close: () => {
        socket.close();
        if (!isAbstractPath(path)) removeSocketFile(path);
      },
    });
  }

  protected override resolveDestination(address: DatagramAddress): string | SendError {
    const path =
      typeof address === 'string'
        ? address
        : !Array.isArray(address) && 'path' in (address as object)
          ? (address as { path: string }).path
          : undefined;
    if (path === undefined) {
      return new SendError('cannot send to an IP address from a Unix datagram server');
    }
    if (path === '') {
      return new SendError(
        "cannot send to an unnamed Unix peer (''): its socket is not bound to a path, so it has no address to answer",
      );
    }
    return path;
  }
}

function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone (removed by hand, or by a server that took the path over as stale).
  }
}
