import { createRequire } from 'node:module';
import type { DgramSocket } from 'node-unix-socket';
import { SendError, UnsupportedOptionError } from '../support/errors.js';
import { printable } from '../support/printable.js';

/**
 * Node has no Unix datagram sockets: this is the one place core reaches them, through
 * node-unix-socket (prebuilt N-API binaries), for UnixDatagramServer and notifySystemd. It is an
 * optional peer dependency: TCP, UDP and Unix stream servers never load it, and their users need
 * not install a native addon.
 */

let DgramSocketClass: typeof DgramSocket | undefined;

/**
 * node-unix-socket's DgramSocket, loaded on first use. ERR_UNSUPPORTED_OPTION, in one line, when
 * the package is not installed (saying how to install it) or has no binary for this platform.
 */
export function loadDgramSocket(): typeof DgramSocket {
  if (DgramSocketClass !== undefined) return DgramSocketClass;
  try {
    const require = createRequire(import.meta.url);
    DgramSocketClass = (require('node-unix-socket') as { DgramSocket: typeof DgramSocket }).DgramSocket;
    return DgramSocketClass;
  } catch (error) {
    const isMissing = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
    throw new UnsupportedOptionError(
      'Unix datagram sockets',
      isMissing
        ? 'they need the node-unix-socket package, an optional peer dependency: npm install node-unix-socket'
        : `node-unix-socket cannot load on ${process.platform}-${process.arch}: ${printable((error as Error).message.split('\n')[0] ?? '')}`,
      { cause: error },
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

/** A node-unix-socket error as a system error of `syscall`, with the code its message stands for. */
export function systemError(error: unknown, syscall: string): NodeJS.ErrnoException {
  const message = error instanceof Error ? error.message : String(error);
  const known = Object.keys(codesByMessage).find((text) => message.startsWith(text));
  const failure: NodeJS.ErrnoException = new Error(
    `${syscall} ${known === undefined ? message : codesByMessage[known]}`,
  );
  failure.code = known === undefined ? 'EUNKNOWN' : codesByMessage[known];
  failure.syscall = syscall;
  return failure;
}

/**
 * Send `data` in one datagram to `path`; rejects with ERR_SEND_FAILED, `cannot ${action}: <reason>`,
 * whether node-unix-socket throws or calls back with the failure.
 */
export function sendDatagram(
  socket: DgramSocket,
  data: Uint8Array,
  path: string,
  action: string,
): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const fail = (error: Error): void => {
    const failure = systemError(error, 'sendto');
    const reason = printable(
      failure.code === 'EUNKNOWN' ? error.message : `${error.message} (${failure.code})`,
    );
    reject(new SendError(`cannot ${action}: ${reason}`, { cause: failure }));
  };
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  try {
    socket.sendTo(buffer, 0, buffer.length, path, (error) => {
      if (error === undefined || error === null) resolve();
      else fail(error);
    });
  } catch (error) {
    fail(error as Error);
  }
  return promise;
}
