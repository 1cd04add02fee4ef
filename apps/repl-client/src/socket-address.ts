import { isIPv6 } from 'node:net';
import type { DatagramAddress, OpenUdpOptions } from '@socketserver/client';

/**
 * The socket path that a `--unix` argument names: `@name` is the Linux abstract name `'\0name'`
 * (as `ss` shows it); anything else is a file system path, taken as is (`./@name` for a file).
 */
export function socketPathFromArgument(argument: string): string {
  return argument.startsWith('@') ? `\0${argument.slice(1)}` : argument;
}

/** Names a socket path in messages: the path itself, or `@name` for a Linux abstract name. */
export function socketPathLabel(path: string): string {
  return path.startsWith('\0') ? `@${path.slice(1)}` : path;
}

/**
 * Where a UDP client for the server at `serverHost` binds, as Python's socket does on its first
 * `sendto`: every local address, port 0, so replies from any interface reach it. IPv6 (`'::'`)
 * for an IPv6 address, else IPv4 (`'0.0.0.0'`), as `socket(AF_INET, SOCK_DGRAM)`; a host name
 * is resolved to an IPv4 address when sending.
 */
export function udpBindingFor(serverHost: string): OpenUdpOptions {
  return isIPv6(serverHost) ? { family: 6, host: '::' } : { family: 4, host: '0.0.0.0' };
}

const sourceEscapes: ReadonlyMap<string, string> = new Map([
  ['\\', '\\\\'],
  ["'", "\\'"],
  ['\n', '\\n'],
  ['\r', '\\r'],
  ['\t', '\\t'],
  ['\0', '\\0'],
]);

/**
 * `value` as JavaScript source to type in the REPL: a single-quoted string (`'\n'`, `'\0'`
 * and quotes escaped), a number, or a `[host, port]` array.
 */
export function sourceLiteral(value: DatagramAddress | number): string {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return `[${value.map((part) => sourceLiteral(part)).join(', ')}]`;
  const escaped = value.replace(/[\\'\n\r\t\0]/g, (character, offset: number) =>
    // '\0' before a digit would read as an octal escape.
    character === '\0' && /\d/.test(value.charAt(offset + 1))
      ? '\\x00'
      : (sourceEscapes.get(character) ?? character),
  );
  return `'${escaped}'`;
}
