import { printable } from './printable.js';

/**
 * The peer of a request, Python's `client_address`: an {@link InetAddress} for TCP and UDP, a
 * {@link UnixAddress} for Unix-domain sockets. Narrow it on `family`.
 */
export type ClientAddress = InetAddress | UnixAddress;

/**
 * An IP peer. An IPv4 peer of a dual-stack socket is reported as IPv4 (`127.0.0.1`, never
 * `::ffff:127.0.0.1`).
 */
export interface InetAddress {
  /** The peer's IP address, without an IPv4-mapped `::ffff:` prefix. */
  readonly host: string;
  /** The peer's TCP or UDP port. */
  readonly port: number;
  /** The address family of `host`. */
  readonly family: 'IPv4' | 'IPv6';
}

/**
 * A Unix-domain peer: the path its socket is bound to, `''` for an unnamed one (a connecting
 * stream client almost always is; Node does not expose a stream peer's name, so a Unix stream
 * peer is always `''`). A Linux abstract name starts with `'\0'`.
 */
export interface UnixAddress {
  /** The peer's socket path; `''` when it has none. */
  readonly path: string;
  /** Always `'Unix'`. */
  readonly family: 'Unix';
}

/** The peer of every Unix stream connection (see {@link UnixAddress}). */
export const unnamedUnixPeer: UnixAddress = Object.freeze({ path: '', family: 'Unix' });

const ipv4MappedPrefix = '::ffff:';

/** The client address of a socket, or `undefined` once the socket has lost its peer. */
export function clientAddressOf(socket: {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly remoteFamily?: string | undefined;
}): InetAddress | undefined {
  const { remoteAddress, remotePort, remoteFamily } = socket;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  const lower = remoteAddress.toLowerCase();
  if (lower.startsWith(ipv4MappedPrefix) && lower.includes('.')) {
    return { host: unmappedHost(remoteAddress), port: remotePort, family: 'IPv4' };
  }
  return { host: remoteAddress, port: remotePort, family: remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4' };
}

/**
 * The IPv4 address inside an IPv4-mapped one, the same string for the same peer: connections
 * mostly come from a few hosts (a load balancer, a NAT), and each would otherwise hold a copy.
 */
function unmappedHost(mapped: string): string {
  let host = unmappedHosts.get(mapped);
  if (host === undefined) {
    if (unmappedHosts.size >= maxUnmappedHosts) unmappedHosts.clear();
    host = mapped.slice(ipv4MappedPrefix.length);
    unmappedHosts.set(mapped, host);
  }
  return host;
}

const unmappedHosts = new Map<string, string>();
const maxUnmappedHosts = 1024;

/**
 * The address as Python prints it: `('127.0.0.1', 46923)`, `('::1', 46923, 0, 0)` for IPv6 (host,
 * port, flowinfo, scope id), and for a Unix peer the path's repr: `''` when unnamed,
 * `'/run/app.sock'`, or `b'\x00name'` for a Linux abstract name (Python gives those as bytes).
 * Like Python's repr, it escapes what is not printable (see {@link printable}): a path bound by a
 * peer, or named in a PROXY header, prints on one line however it was made, `'/tmp/a\nb'` for a
 * newline in it. The address itself is not changed: handlers get it as it came.
 */
export function formatClientAddress(address: ClientAddress): string {
  if (address.family === 'Unix') return formatUnixPath(address.path);
  return address.family === 'IPv6'
    ? `(${quoted(address.host)}, ${address.port}, 0, 0)`
    : `(${quoted(address.host)}, ${address.port})`;
}

/**
 * A Unix socket path as Python's repr shows it (see {@link formatClientAddress}): quoted, with
 * what is not printable escaped by {@link printable}; a Linux abstract name as a bytes literal,
 * each byte that is not printable ASCII as `\xNN` (`\t`, `\n`, `\r` for those three).
 */
export function formatUnixPath(path: string): string {
  if (path.startsWith('\0')) {
    const bytes = Buffer.from(path);
    const quote = pythonQuote(bytes.includes(0x27), bytes.includes(0x22));
    const shown = [...bytes].map((byte) => {
      const character = String.fromCharCode(byte);
      if (character === '\\' || character === quote) return `\\${character}`;
      if (byte >= 0x20 && byte < 0x7f) return character;
      return shortByteEscapes[character] ?? `\\x${byte.toString(16).padStart(2, '0')}`;
    });
    return `b${quote}${shown.join('')}${quote}`;
  }
  return quoted(path);
}

/** `text` as Python's repr shows a str: quoted, its own quote escaped, the rest by {@link printable}. */
function quoted(text: string): string {
  const quote = pythonQuote(text.includes("'"), text.includes('"'));
  return `${quote}${printable(text).replaceAll(quote, `\\${quote}`)}${quote}`;
}

/** Python's repr: single quotes, or double quotes when the text has a single quote and no double one. */
function pythonQuote(hasSingle: boolean, hasDouble: boolean): "'" | '"' {
  return hasSingle && !hasDouble ? '"' : "'";
}

const shortByteEscapes: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };
