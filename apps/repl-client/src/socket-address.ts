import { isIPv6 } from 'node:net';
import type { DatagramAddress, OpenUDPOptions } from '@socketserver/client';
import { printable } from '@socketserver/core';
import { describeUnixPath } from '@socketserver/core/strategy';

/**
 * The socket path that a `--unix` argument names: `@name` is the Linux abstract name `'\0name'`
 * (as `ss` shows it); anything else is a file system path, taken as is (`./@name` for a file).
 */
export function socketPathFromArgument(argument: string): string {
  return argument.startsWith('@') ? `\0${argument.slice(1)}` : argument;
}

/**
 * Names a socket path in messages: the path itself, or `@name` for a Linux abstract name, what is
 * not printable escaped (core's `describeUnixPath`: `/tmp/a\nb` for a newline in it).
 */
export function socketPathLabel(path: string): string {
  return describeUnixPath(path);
}

/** Names a TCP or UDP endpoint in messages: `host:port`, `[host]:port` for IPv6, what is not printable in `host` escaped. */
export function hostPortLabel(host: string, port: number): string {
  return host.includes(':') ? `[${printable(host)}]:${port}` : `${printable(host)}:${port}`;
}

/**
 * Where a UDP client for the server at `serverHost` binds, as Python's socket does on its first
 * `sendto`: every local address, port 0, so replies from any interface reach it. IPv6 (`'::'`)
 * for an IPv6 address, else IPv4 (`'0.0.0.0'`), as `socket(AF_INET, SOCK_DGRAM)`; a host name
 * is resolved to an IPv4 address when sending.
 */
export function udpBindingFor(serverHost: string): OpenUDPOptions {
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
 * and quotes escaped, and what core's `printable` would escape as `\xNN`, `\uNNNN` or `\u{N}`),
 * a number, or a `[host, port]` array.
 */
export function sourceLiteral(value: DatagramAddress | number): string {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return `[${value.map((part) => sourceLiteral(part)).join(', ')}]`;
  const escaped = value.replace(/[\\'\n\r\t\0]|[^\x20-\x7e]/gu, (character, offset: number) => {
    // '\0' before a digit would read as an octal escape.
    if (character === '\0' && /\d/.test(value.charAt(offset + 1))) return '\\x00';
    const short = sourceEscapes.get(character);
    if (short !== undefined) return short;
    return printable(character) === character ? character : javaScriptEscape(character);
  });
  return `'${escaped}'`;
}

/** A character as a JavaScript string escape: `\xNN`, `\uNNNN`, or `\u{N}` past the BMP. */
function javaScriptEscape(character: string): string {
  const codePoint = character.codePointAt(0) ?? 0;
  const hex = codePoint.toString(16);
  if (codePoint < 0x100) return `\\x${hex.padStart(2, '0')}`;
  if (codePoint < 0x10000) return `\\u${hex.padStart(4, '0')}`;
  return `\\u{${hex}}`;
}
