/**
 * The peer of an accepted connection, Python's `client_address`. An IPv4 peer of a
 * dual-stack listener is reported as IPv4 (`127.0.0.1`, never `::ffff:127.0.0.1`).
 */
export interface ClientAddress {
  /** The peer's IP address, without an IPv4-mapped `::ffff:` prefix. */
  readonly host: string;
  /** The peer's TCP port. */
  readonly port: number;
  /** The address family of `host`. */
  readonly family: 'IPv4' | 'IPv6';
}

const ipv4MappedPrefix = '::ffff:';

/** The client address of a socket, or `undefined` once the socket has lost its peer. */
export function clientAddressOf(socket: {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly remoteFamily?: string | undefined;
}): ClientAddress | undefined {
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
 * The address as Python prints it: `('127.0.0.1', 46923)`, or `('::1', 46923, 0, 0)` for
 * IPv6 (host, port, flowinfo, scope id).
 */
export function formatClientAddress(address: ClientAddress): string {
  return address.family === 'IPv6'
    ? `('${address.host}', ${address.port}, 0, 0)`
    : `('${address.host}', ${address.port})`;
}
