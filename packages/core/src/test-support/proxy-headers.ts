/** PROXY protocol headers made by hand, for tests: good ones, and every kind of bad one. */
import net from 'node:net';
import { crc32c } from '../connection-setup/proxy-protocol/parser.js';

export const v2Signature: Buffer = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

/** A v1 header line for a TCP4 or TCP6 client. */
export function v1Header(
  source: [string, number],
  destination: [string, number] = ['127.0.0.1', 20000],
): Buffer {
  const protocol = net.isIPv6(source[0]) ? 'TCP6' : 'TCP4';
  return Buffer.from(
    `PROXY ${protocol} ${source[0]} ${destination[0]} ${source[1]} ${destination[1]}\r\n`,
    'latin1',
  );
}

export interface V2HeaderParts {
  /** 0 LOCAL, 1 PROXY (default). */
  readonly command?: number;
  /** The version nibble; default 2. */
  readonly version?: number;
  /** The address block, already encoded; see the helpers below. Default: none (AF_UNSPEC). */
  readonly addresses?: { readonly family: number; readonly bytes: Buffer };
  /** TLVs after the addresses. */
  readonly tlvs?: readonly { readonly type: number; readonly value: Buffer }[];
  /** Add a CRC32c TLV with the right checksum (or `'wrong'` for a bad one). */
  readonly crc?: 'right' | 'wrong';
  /** The length field, when it must lie. */
  readonly length?: number;
}

/** A v2 header. */
export function v2Header(parts: V2HeaderParts = {}): Buffer {
  const family = parts.addresses?.family ?? 0;
  const tlvBytes = (parts.tlvs ?? []).map(({ type, value }) => {
    const head = Buffer.alloc(3);
    head.writeUInt8(type, 0);
    head.writeUInt16BE(value.length, 1);
    return Buffer.concat([head, value]);
  });
  if (parts.crc !== undefined) tlvBytes.push(Buffer.from([0x03, 0, 4, 0, 0, 0, 0]));
  const body = Buffer.concat([parts.addresses?.bytes ?? Buffer.alloc(0), ...tlvBytes]);
  const fixed = Buffer.alloc(4);
  fixed.writeUInt8(((parts.version ?? 2) << 4) | (parts.command ?? 1), 0);
  fixed.writeUInt8((family << 4) | 1, 1);
  fixed.writeUInt16BE(parts.length ?? body.length, 2);
  const header = Buffer.concat([v2Signature, fixed, body]);
  if (parts.crc !== undefined) {
    const sum = crc32c(header) ^ (parts.crc === 'wrong' ? 1 : 0);
    header.writeUInt32BE(sum >>> 0, header.length - 4);
  }
  return header;
}

/** The v2 address block of an IPv4 client (family 1). */
export function v2Inet(source: [string, number], destination: [string, number] = ['127.0.0.1', 20000]) {
  const bytes = Buffer.alloc(12);
  source[0].split('.').forEach((octet, index) => bytes.writeUInt8(Number(octet), index));
  destination[0].split('.').forEach((octet, index) => bytes.writeUInt8(Number(octet), 4 + index));
  bytes.writeUInt16BE(source[1], 8);
  bytes.writeUInt16BE(destination[1], 10);
  return { family: 1, bytes };
}

/** The v2 address block of an IPv6 client (family 2). */
export function v2Inet6(source: [string, number], destination: [string, number] = ['::1', 20000]) {
  const bytes = Buffer.alloc(36);
  ipv6Bytes(source[0]).copy(bytes, 0);
  ipv6Bytes(destination[0]).copy(bytes, 16);
  bytes.writeUInt16BE(source[1], 32);
  bytes.writeUInt16BE(destination[1], 34);
  return { family: 2, bytes };
}

/** The v2 address block of a Unix-socket client (family 3). */
export function v2Unix(source: string, destination = '/run/server.sock') {
  const bytes = Buffer.alloc(216);
  bytes.write(source, 0, 'utf8');
  bytes.write(destination, 108, 'utf8');
  return { family: 3, bytes };
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = [
    ...headGroups,
    ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'),
    ...tailGroups,
  ];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(Number.parseInt(group, 16), index * 2));
  return bytes;
}
