import { unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DgramSocket } from 'node-unix-socket';
import type { DatagramAddress, DatagramRequest } from './datagram-socket.js';
import {
  DatagramServer,
  type DatagramReceiver,
  type DatagramServerOptions,
  type DatagramTransport,
} from './datagram-server.js';
import { describeUnixPath, SocketServerError, UnsupportedOptionError } from './errors.js';
import { rejectWith, type RequestHandlerClass } from './request-handler.js';
import { isAbstractPath, validateUnixPath } from './server-address.js';
import { applyMode, bindUnixPath, validateMode } from './unix-path.js';

/** Options of {@link UnixDatagramServer}. */
export interface UnixDatagramServerOptions extends DatagramServerOptions {
  /**
   * The socket file's permission bits, set right after binding: `0o660` lets the group send, for
   * example. Default: what the umask leaves. Not for an abstract name, which has no file.
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
    let isBound = false;
    try {
      bindUnixPath(path, () => {
        try {
          socket.bind(path);
        } catch (error) {
          throw systemError(error, 'bind');
        }
      });
      isBound = true;
      applyMode(path, this.mode);
    } catch (error) {
      socket.close();
      if (isBound) removeSocketFile(path); // bound, then the mode could not be set
      return rejectWith(error);
    }
    socket.on('data', (data: Buffer, from: string) => receive(data, { family: 'Unix', path: from }));
    socket.on('error', (error: Error) => this.reportServerError(error));
    return Promise.resolve({
      send: (data, destination) => {
        const to = destination as string;
        const { promise, resolve, reject } = Promise.withResolvers<void>();
        const buffer = Buffer.isBuffer(data)
          ? data
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        try {
          socket.sendTo(buffer, 0, buffer.length, to, (error) => {
            if (error === undefined || error === null) resolve();
            else reject(sendError(to, error));
          });
        } catch (error) {
          reject(sendError(to, error as Error));
        }
        return promise;
      },
      close: () => {
        socket.close();
        if (!isAbstractPath(path)) removeSocketFile(path);
      },
    });
  }

  protected override resolveDestination(address: DatagramAddress): string | SocketServerError {
    const path =
      typeof address === 'string'
        ? address
        : !Array.isArray(address) && 'path' in (address as object)
          ? (address as { path: string }).path
          : undefined;
    if (path === undefined) {
      return new SocketServerError(
        'ERR_SEND_FAILED',
        'cannot send to an IP address from a Unix datagram server',
      );
    }
    if (path === '') {
      return new SocketServerError(
        'ERR_SEND_FAILED',
        "cannot send to an unnamed Unix peer (''): its socket is not bound to a path, so it has no address to answer",
      );
    }
    return path;
  }
}

let DgramSocketClass: typeof DgramSocket | undefined;

/** node-unix-socket's DgramSocket, loaded on first use; ERR_UNSUPPORTED_OPTION where it has no binary. */
function loadDgramSocket(): typeof DgramSocket {
  if (DgramSocketClass !== undefined) return DgramSocketClass;
  try {
    const require = createRequire(import.meta.url);
    DgramSocketClass = (require('node-unix-socket') as { DgramSocket: typeof DgramSocket }).DgramSocket;
    return DgramSocketClass;
  } catch (error) {
    throw new UnsupportedOptionError(
      'UnixDatagramServer',
      `node-unix-socket cannot load on ${process.platform}-${process.arch}: ${(error as Error).message}`,
    );
  }
}

/** node-unix-socket's errors carry the system's message, not its code: give them the code back. */
const codesByMessage: Readonly<Record<string, string>> = {
  'Address already in use': 'EADDRINUSE',
  'Permission denied': 'EACCES',
  'Operation not permitted': 'EPERM',
  'No such file or directory': 'ENOENT',
  'Not a directory': 'ENOTDIR',
  'Read-only file system': 'EROFS',
  'Connection refused': 'ECONNREFUSED',
  'Message too long': 'EMSGSIZE',
  'Resource temporarily unavailable': 'EAGAIN',
  'No buffer space available': 'ENOBUFS',
  'Protocol wrong type for socket': 'EPROTOTYPE',
};

function systemError(error: unknown, syscall: string): NodeJS.ErrnoException {
  const message = error instanceof Error ? error.message : String(error);
  const known = Object.keys(codesByMessage).find((text) => message.startsWith(text));
  const failure: NodeJS.ErrnoException = new Error(
    `${syscall} ${known === undefined ? message : codesByMessage[known]}`,
  );
  failure.code = known === undefined ? 'EUNKNOWN' : codesByMessage[known];
  failure.syscall = syscall;
  return failure;
}

function sendError(path: string, error: Error): SocketServerError {
  const failure = systemError(error, 'sendto');
  return new SocketServerError(
    'ERR_SEND_FAILED',
    `cannot send to ${describeUnixPath(path)}: ${failure.code === 'EUNKNOWN' ? error.message : `${error.message} (${failure.code})`}`,
    { cause: failure },
  );
}

function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone (removed by hand, or by a server that took the path over as stale).
  }
}
