/**
 * The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2), receiving side: a load
 * balancer that accepts a client's connection opens one to the server and writes, before any of
 * the client's bytes, a header naming the original client. A stream server with `proxyProtocol`
 * reads that header from each connection, from trusted sources only, before verifyRequest, TLS and
 * the handler: they all see the original client as `clientAddress`, and none sees a header byte.
 *
 * The receiving side is four files here: this parser (the header format, and the CRC32c of v2),
 * `trust.ts` (the options, and who may send a header), `reader.ts` (reading a connection's header
 * from its socket) and `header-store.ts` (the header kept on its socket, for a handler).
 */
import net from 'node:net';
import { clientAddressOf, type ClientAddress, type InetAddress } from '../../support/client-address.js';
import { ProxyProtocolError } from '../../support/errors.js';

/** Which PROXY protocol versions a server accepts: `'any'` takes either, told apart by the first byte. */
export type ProxyProtocolVersion = 'v1' | 'v2' | 'any';

/** One v2 TLV (type-length-value) of a header: ALPN, authority, a CRC, a unique id, SSL details... */
export interface ProxyHeaderTLV {
  /** The TLV's type (`PP2_TYPE_*`: 0x01 ALPN, 0x02 authority, 0x03 CRC32c, 0x05 unique id, 0x20 SSL...). */
  readonly type: number;
  /** Its value, as sent. */
  readonly value: Buffer;
}

/** A parsed PROXY header. */
export interface ProxyHeader {
  /** 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /**
   * `'PROXY'`: `source` is the original client. `'LOCAL'`: the proxy speaks for itself (a v2
   * health check, a v1 `UNKNOWN`): the connection's own peer is the client.
   */
  readonly command: 'PROXY' | 'LOCAL';
  /** The original client; `undefined` for `LOCAL` and for a v2 `UNSPEC` address. */
  readonly source: ClientAddress | undefined;
  /** The address the original client connected to, as `source`. */
  readonly destination: ClientAddress | undefined;
  /** The v2 TLVs, in order; none for v1. */
  readonly tlvs: readonly ProxyHeaderTLV[];
  /** The header's length in bytes: what the connection's data starts after. */
  readonly length: number;
}

/** The v2 signature, the first 12 bytes of every v2 header. */
const v2Signature = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const v1Prefix = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line, CRLF included (proxy-protocol.txt, 2.1). */
export const maxV1HeaderLength = 107;
/** The fixed part of a v2 header: signature, version and command, family, length. */
export const v2FixedLength = 16;
/** Address block lengths of v2 by family nibble: INET, INET6, UNIX. */
const v2AddressLength = [0, 12, 36, 216] as const;
const PP2_TYPE_CRC32C = 0x03;

/**
 * Parse the PROXY header at the start of `bytes`. Returns `undefined` while more bytes are needed;
 * throws a {@link ProxyProtocolError} as soon as they cannot make a header of `version`, without
 * waiting for the rest (a wrong first byte fails on that byte).
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  version: ProxyProtocolVersion = 'any',
  maxHeaderSize: number = defaultMaxProxyHeaderSize,
): ProxyHeader | undefined {
  if (bytes.length === 0) return undefined;
  const isV2 = bytes[0] === v2Signature[0];
  if (isV2 ? version === 'v1' : version === 'v2' || bytes[0] !== v1Prefix[0]) {
    const expected = version === 'any' ? 'a v1 or v2 header' : `a ${version} header`;
    throw new ProxyProtocolError('malformed', `expected ${expected}, got ${describeStart(bytes)}`);
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isV2 ? parseV2(buffer, maxHeaderSize) : parseV1(buffer);
}

function parseV1(bytes: Buffer): ProxyHeader | undefined {
  const prefixLength = Math.min(bytes.length, v1Prefix.length);
  if (!bytes.subarray(0, prefixLength).equals(v1Prefix.subarray(0, prefixLength))) {
    throw new ProxyProtocolError('malformed', `expected a v1 header ("PROXY "), got ${describeStart(bytes)}`);
  }
  // Only the first 107 bytes can hold the line: a client's data may follow it in the same read.
  const end = bytes.subarray(0, maxV1HeaderLength).indexOf('\r\n', 0, 'latin1');
  if (end === -1) {
    if (bytes.length >= maxV1HeaderLength) {
      throw new ProxyProtocolError('oversized', `v1 header longer than ${maxV1HeaderLength} bytes`);
    }
    // Fail at the first byte that cannot be part of a v1 line (printable ASCII, then CRLF).
    const text = bytes.toString('latin1').replace(/\r$/, '');
    if (!isPrintable(text)) throw new ProxyProtocolError('malformed', 'v1 header is not printable ASCII');
    return undefined;
  }
  const length = end + 2;
  const line = bytes.toString('latin1', v1Prefix.length, end);
  if (!isPrintable(line)) throw new ProxyProtocolError('malformed', 'v1 header is not printable ASCII');
  const fields = line.split(' ');
  const protocol = fields[0];
  if (protocol === 'UNKNOWN') {
    // "the receiver must ignore anything presented before the CRLF"
    return { version: 1, command: 'LOCAL', source: undefined, destination: undefined, tlvs: [], length };
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    throw new ProxyProtocolError(
      'malformed',
      `v1 protocol ${quote(protocol ?? '')}, not TCP4, TCP6 or UNKNOWN`,
    );
  }
  if (fields.length !== 5) {
    throw new ProxyProtocolError(
      'malformed',
      `v1 ${protocol} header needs 4 fields after the protocol, one space apart`,
    );
  }
  const [, sourceHost = '', destinationHost = '', sourcePort = '', destinationPort = ''] = fields;
  const family = protocol === 'TCP4' ? 'IPv4' : 'IPv6';
  return {
    version: 1,
    command: 'PROXY',
    source: inetAddress(v1Host(sourceHost, family), v1Port(sourcePort)),
    destination: inetAddress(v1Host(destinationHost, family), v1Port(destinationPort)),
    tlvs: [],
    length,
  };
}

function v1Host(text: string, family: 'IPv4' | 'IPv6'): string {
  const isValid = family === 'IPv4' ? net.isIPv4(text) : net.isIPv6(text) && !text.includes('%');
  if (!isValid) throw new ProxyProtocolError('malformed', `v1 ${family} address ${quote(text)}`);
  return family === 'IPv4' ? text : new net.SocketAddress({ address: text, family: 'ipv6' }).address;
}

function v1Port(text: string): number {
  // proxy-protocol.txt: a decimal number in 0..65535, no leading zero.
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65_535) {
    throw new ProxyProtocolError('malformed', `v1 port ${quote(text)}`);
  }
  return Number(text);
}

function parseV2(bytes: Buffer, maxHeaderSize: number): ProxyHeader | undefined {
  const signatureLength = Math.min(bytes.length, v2Signature.length);
  if (!bytes.subarray(0, signatureLength).equals(v2Signature.subarray(0, signatureLength))) {
    throw new ProxyProtocolError('malformed', `expected the v2 signature, got ${describeStart(bytes)}`);
  }
  const versionCommand = bytes[12];
  if (versionCommand !== undefined && (versionCommand >> 4 !== 2 || (versionCommand & 0x0f) > 1)) {
    throw new ProxyProtocolError('malformed', `v2 version/command byte 0x${hex(versionCommand)}`);
  }
  const familyTransport = bytes[13];
  if (familyTransport !== undefined && (familyTransport >> 4 > 3 || (familyTransport & 0x0f) > 2)) {
    throw new ProxyProtocolError('malformed', `v2 family/transport byte 0x${hex(familyTransport)}`);
  }
  if (bytes.length < v2FixedLength || versionCommand === undefined || familyTransport === undefined) {
    return undefined;
  }
  const length = v2FixedLength + bytes.readUInt16BE(14);
  if (length > maxHeaderSize) {
    throw new ProxyProtocolError('oversized', `v2 header of ${length} bytes, more than ${maxHeaderSize}`);
  }
  const family = familyTransport >> 4;
  const addressLength = v2AddressLength[family as 0 | 1 | 2 | 3];
  if (length - v2FixedLength < addressLength) {
    throw new ProxyProtocolError(
      'malformed',
      `v2 length ${length - v2FixedLength} is shorter than its addresses (${addressLength} bytes)`,
    );
  }
  if (bytes.length < length) return undefined;
  const header = bytes.subarray(0, length);
  const tlvs = parseTLVs(header, v2FixedLength + addressLength);
  const isLocal = (versionCommand & 0x0f) === 0;
  const [source, destination] = isLocal ? [undefined, undefined] : v2Addresses(header, family);
  return { version: 2, command: isLocal ? 'LOCAL' : 'PROXY', source, destination, tlvs, length };
}

function v2Addresses(header: Buffer, family: number): [ClientAddress | undefined, ClientAddress | undefined] {
  const at = v2FixedLength;
  if (family === 1) {
    return [
      inetAddress(ipv4(header.subarray(at, at + 4)), header.readUInt16BE(at + 8)),
      inetAddress(ipv4(header.subarray(at + 4, at + 8)), header.readUInt16BE(at + 10)),
    ];
  }
  if (family === 2) {
    return [
      inetAddress(ipv6(header.subarray(at, at + 16)), header.readUInt16BE(at + 32)),
      inetAddress(ipv6(header.subarray(at + 16, at + 32)), header.readUInt16BE(at + 34)),
    ];
  }
  if (family === 3) {
    return [
      { path: unixPath(header.subarray(at, at + 108)), family: 'Unix' },
      { path: unixPath(header.subarray(at + 108, at + 216)), family: 'Unix' },
    ];
  }
  return [undefined, undefined]; // AF_UNSPEC: "the receiver should ignore address information"
}

/** The TLVs after the addresses; each must fit, and a CRC32c TLV must match the header. */
function parseTLVs(header: Buffer, start: number): ProxyHeaderTLV[] {
  const tlvs: ProxyHeaderTLV[] = [];
  let at = start;
  while (at < header.length) {
    if (at + 3 > header.length) throw new ProxyProtocolError('malformed', `v2 TLV at ${at} is cut short`);
    const type = header[at] ?? 0;
    const end = at + 3 + header.readUInt16BE(at + 1);
    if (end > header.length) {
      throw new ProxyProtocolError('malformed', `v2 TLV 0x${hex(type)} at ${at} runs past the header`);
    }
    const value = Buffer.from(header.subarray(at + 3, end));
    if (type === PP2_TYPE_CRC32C) checkCRC32c(header, at + 3, value);
    tlvs.push({ type, value });
    at = end;
  }
  return tlvs;
}

function checkCRC32c(header: Buffer, valueAt: number, value: Buffer): void {
  if (value.length !== 4) throw new ProxyProtocolError('malformed', 'v2 CRC32c TLV is not 4 bytes');
  const zeroed = Buffer.from(header);
  zeroed.fill(0, valueAt, valueAt + 4);
  if (crc32c(zeroed) !== value.readUInt32BE(0)) {
    throw new ProxyProtocolError('malformed', 'v2 header does not match its CRC32c');
  }
}

let crc32cTable: Uint32Array | undefined;

/** CRC-32C (Castagnoli), the checksum of the v2 `PP2_TYPE_CRC32C` TLV. */
export function crc32c(bytes: Uint8Array): number {
  const table = (crc32cTable ??= makeCRC32cTable());
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (table[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function makeCRC32cTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

function ipv4(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let at = 0; at < 16; at += 2) groups.push(bytes.readUInt16BE(at).toString(16));
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/** An IP address as a socket would report it: an IPv4-mapped IPv6 address is the IPv4 one. */
function inetAddress(host: string, port: number): InetAddress {
  return (
    clientAddressOf({
      remoteAddress: host,
      remotePort: port,
      remoteFamily: host.includes(':') ? 'IPv6' : 'IPv4',
    }) ?? {
      host,
      port,
      family: 'IPv4',
    }
  );
}

/** A sockaddr_un path: up to its NUL; a Linux abstract name (leading NUL) up to its last non-NUL byte. */
function unixPath(bytes: Buffer): string {
  if (bytes[0] !== 0) {
    const end = bytes.indexOf(0);
    return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
  }
  let end = bytes.length;
  while (end > 1 && bytes[end - 1] === 0) end -= 1;
  return end === 1 ? '' : bytes.toString('utf8', 0, end);
}

function isPrintable(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

function describeStart(bytes: Uint8Array): string {
  const start = Buffer.from(bytes.subarray(0, 16));
  return isPrintable(start.toString('latin1'))
    ? quote(start.toString('latin1'))
    : `bytes ${start.toString('hex')}`;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

/** Default of `maxProxyHeaderSize`: room for addresses and a few kilobytes of TLVs. */
export const defaultMaxProxyHeaderSize = 4096;
