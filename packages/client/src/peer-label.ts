import { printable } from './printable.js';

/**
 * Names a TCP or UDP peer in messages: `host:port`, or `[host]:port` for an IPv6 address; what is
 * not printable in `host` escaped (see `printable`), so that a message stays one line.
 */
export function hostPortLabel(host: string, port: number): string {
  return host.includes(':') ? `[${printable(host)}]:${port}` : `${printable(host)}:${port}`;
}

/**
 * Names a Unix socket path in messages: the path itself, or `@name` for a Linux abstract name
 * (a path starting with `'\0'`), as `ss` and `lsof` show it; what is not printable escaped (see
 * `printable`: `/tmp/a\nb` for a newline in it), so that a message stays one line.
 */
export function unixPathLabel(path: string): string {
  return path.startsWith('\0') ? `@${printable(path.slice(1))}` : printable(path);
}
