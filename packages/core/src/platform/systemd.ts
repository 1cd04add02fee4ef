import { readFileSync, readlinkSync } from 'node:fs';
import { describeUnixPath, InvalidOptionError, UnsupportedOptionError } from '../support/errors.js';
import { printable } from '../support/printable.js';
import { loadDgramSocket, sendDatagram } from './unix-dgram.js';

/** The first file descriptor systemd passes (`SD_LISTEN_FDS_START`): 0-2 are stdio. */
export const listenFdsStart = 3;

/** A listening socket inherited from a service manager (systemd socket activation). */
export interface InheritedSocket {
  /** Its file descriptor: 3 for the first one. */
  readonly fd: number;
  /** Its name from `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`), `'unknown'` if none. */
  readonly name: string;
  /**
   * What it listens on, read from /proc on Linux: `'inet'` (TCP), `'unix'` (a Unix stream socket),
   * or `undefined` when it cannot be told.
   */
  readonly family: 'inet' | 'unix' | undefined;
  /** A Unix socket's path (`'\0name'` for an abstract one), from /proc on Linux; else `undefined`. */
  readonly path: string | undefined;
}

/**
 * systemd's `sd_listen_fds()`: the listening sockets this process inherited, when `LISTEN_PID` is
 * this process and `LISTEN_FDS` counts them (fds 3 onwards, named by `LISTEN_FDNAMES`); none
 * otherwise. As `sd_listen_fds(1)`, the variables are then removed from `env`, so child processes
 * (workers) do not take them for their own. A malformed `LISTEN_FDS` is an ERR_INVALID_OPTION.
 */
export function listenFds(
  options: { env?: NodeJS.ProcessEnv; unsetEnvironment?: boolean } = {},
): InheritedSocket[] {
  const env = options.env ?? process.env;
  const { LISTEN_PID: pid, LISTEN_FDS: count, LISTEN_FDNAMES: names } = env;
  if (options.unsetEnvironment ?? true) {
    delete env['LISTEN_PID'];
    delete env['LISTEN_FDS'];
    delete env['LISTEN_FDNAMES'];
  }
  if (pid === undefined || count === undefined || pid !== String(process.pid)) return [];
  if (!/^\d+$/.test(count)) {
    throw new InvalidOptionError('LISTEN_FDS', count, 'a count of sockets');
  }
  const nameList = names?.split(':') ?? [];
  return Array.from({ length: Number(count) }, (_, index) => {
    const fd = listenFdsStart + index;
    return { fd, name: nameList[index] || 'unknown', ...describeSocket(fd) };
  });
}

/**
 * Whether a socket fd is TCP or Unix, and a Unix one's path, from its inode in /proc (Linux):
 * Node tells neither of a socket it did not open. `undefined` where there is no /proc.
 */
function describeSocket(fd: number): Pick<InheritedSocket, 'family' | 'path'> {
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    if (inode === undefined) return { family: undefined, path: undefined };
    // Num RefCount Protocol Flags Type St Inode [Path]: the path is the rest of the line.
    const entry = readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .map((line) => /^\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)(?: (.*))?$/.exec(line.trim()))
      .find((match) => match?.[1] === inode);
    if (entry === undefined) return { family: 'inet', path: undefined };
    const path = entry?.[2];
    return { family: 'unix', path: path?.startsWith('@') ? `\0${path.slice(1)}` : path };
  } catch {
    return { family: undefined, path: undefined }; // no /proc: the server finds out when it listens
  }
}

/**
 * systemd's `sd_notify()`: send `state` (`'READY=1'`, `'STOPPING=1'`, `'STATUS=...'`) to the service
 * manager's `NOTIFY_SOCKET`. Resolves `false` when there is none (not run by systemd with
 * `Type=notify`), `true` once sent; rejects with ERR_SEND_FAILED when it cannot be sent, and with
 * ERR_UNSUPPORTED_OPTION for an abstract `NOTIFY_SOCKET` (`@...`), which the Unix datagram binding
 * (node-unix-socket) cannot address exactly.
 */
export async function notifySystemd(state: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const path = env['NOTIFY_SOCKET'];
  if (path === undefined || path === '') return false;
  if (path.startsWith('@')) {
    throw new UnsupportedOptionError(
      `an abstract NOTIFY_SOCKET (${printable(path)})`,
      'node-unix-socket pads abstract names, so the notification would not reach it',
    );
  }
  const socket = new (loadDgramSocket())();
  try {
    await sendDatagram(socket, Buffer.from(state), path, `notify ${describeUnixPath(path)}`);
    return true;
  } finally {
    socket.close();
  }
}
