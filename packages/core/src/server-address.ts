import net from 'node:net';
import { InvalidOptionError } from './errors.js';

/** `[host, port]`, Python's `server_address` for TCP and UDP. Host `''` means every interface. */
export type ServerAddress = readonly [host: string, port: number];

/** A `[host, port]` checked: an IP address, `'localhost'` or `''`, and a port 0-65535. */
export function validateServerAddress(serverAddress: ServerAddress): ServerAddress {
  if (!Array.isArray(serverAddress) || serverAddress.length !== 2) {
    throw new InvalidOptionError('serverAddress', serverAddress, '[host, port]');
  }
  const [host, port] = serverAddress;
  if (typeof host !== 'string')
    throw new InvalidOptionError('host', host, "a string ('' for every interface)");
  if (host !== '' && host !== 'localhost' && net.isIP(host) === 0) {
    throw new InvalidOptionError('host', host, "an IP address, 'localhost' or '' (resolve host names first)");
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidOptionError('port', port, 'an integer 0-65535');
  return [host, port];
}

/**
 * The longest path `sockaddr_un` holds, in bytes, without its terminating NUL: 107 on Linux
 * (`sun_path[108]`), 103 on macOS and the BSDs (`sun_path[104]`).
 */
export const maxUnixPathLength: number = process.platform === 'linux' ? 107 : 103;

/**
 * A Unix socket path checked: a non-empty string with no NUL byte, short enough for
 * `sockaddr_un` ({@link maxUnixPathLength} bytes). On Linux a leading `'\0'` names an abstract
 * socket, which has no file (no stale file, no mode) and may be one byte longer.
 */
export function validateUnixPath(path: string): string {
  if (typeof path !== 'string' || path === '') {
    throw new InvalidOptionError('path', path === '' ? "''" : path, 'a non-empty socket path');
  }
  const isAbstract = path.startsWith('\0');
  if (isAbstract && process.platform !== 'linux') {
    throw new InvalidOptionError('path', JSON.stringify(path), 'a file path (abstract names are Linux only)');
  }
  if (path.includes('\0', isAbstract ? 1 : 0)) {
    throw new InvalidOptionError('path', JSON.stringify(path), 'a path without NUL bytes');
  }
  const length = Buffer.byteLength(path);
  const limit = isAbstract ? maxUnixPathLength + 1 : maxUnixPathLength;
  if (length > limit) {
    throw new InvalidOptionError(
      'path',
      `${path.slice(0, 40)}... (${length} bytes)`,
      `at most ${limit} bytes: a Unix socket path must fit sockaddr_un; use a shorter directory`,
    );
  }
  return path;
}

/** Whether a Unix socket path is a Linux abstract name (no file). */
export function isAbstractPath(path: string): boolean {
  return path.startsWith('\0');
}
