import net from 'node:net';
import { formatUnixPath } from '../support/client-address.js';
import { describeUnixPath, InvalidOptionError } from '../support/errors.js';

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
    throw new InvalidOptionError('path', formatUnixPath(path), 'a file path (abstract names are Linux only)');
  }
  if (path.includes('\0', isAbstract ? 1 : 0)) {
    throw new InvalidOptionError('path', formatUnixPath(path), 'a path without NUL bytes');
  }
  const length = Buffer.byteLength(path);
  const limit = isAbstract ? maxUnixPathLength + 1 : maxUnixPathLength;
  if (length > limit) {
    throw new InvalidOptionError(
      'path',
      `${describeUnixPath(path.slice(0, 40))}... (${length} bytes)`,
      `at most ${limit} bytes: a Unix socket path must fit sockaddr_un; use a shorter directory`,
    );
  }
  return path;
}

/** Whether a Unix socket path is a Linux abstract name (no file). */
export function isAbstractPath(path: string): boolean {
  return path.startsWith('\0');
}

/** Python's `address_family` for host `''`: `'IPv4'`, `'IPv6'`, or `undefined` (the machine's choice). */
export type AddressFamily = 'IPv4' | 'IPv6' | undefined;

/** An `addressFamily` option checked. */
export function requireAddressFamily(value: unknown): AddressFamily {
  if (value === undefined || value === 'IPv4' || value === 'IPv6') return value;
  throw new InvalidOptionError('addressFamily', value, "'IPv4', 'IPv6' or undefined");
}

/**
 * Where a TCP or UDP server binds for `host`: an IP literal as given (`'localhost'` as 127.0.0.1);
 * for `''` (every interface) `'::'`, dual stack unless `ipv6Only`, or `'0.0.0.0'` for `'IPv4'`.
 * `fallback` is where to bind instead when `'::'` fails because the machine has no IPv6
 * (see {@link hasNoIPv6}); `undefined` when IPv6 was asked for.
 */
export function bindAddresses(
  host: string,
  addressFamily: AddressFamily,
  ipv6Only: boolean,
): {
  /** The address to bind first. */
  first: string;
  /** Where to bind when `first` fails for want of IPv6; `undefined`: nowhere else. */
  fallback: string | undefined;
} {
  if (host !== '') return { first: host === 'localhost' ? '127.0.0.1' : host, fallback: undefined };
  if (addressFamily === 'IPv4') return { first: '0.0.0.0', fallback: undefined };
  return { first: '::', fallback: addressFamily === 'IPv6' || ipv6Only ? undefined : '0.0.0.0' };
}

/** Whether a bind to `'::'` failed because the machine has no IPv6: then IPv4 will do. */
export function hasNoIPv6(error: unknown): boolean {
  const { code } = error as NodeJS.ErrnoException;
  return code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL';
}
