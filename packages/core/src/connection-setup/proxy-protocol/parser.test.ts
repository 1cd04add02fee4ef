import net from 'node:net';
import fc from 'fast-check';
import * as reference from 'proxy-protocol-js';
import { describe, expect, it } from 'vitest';
import { ProxyProtocolError } from '../../support/errors.js';
import { crc32c, parseProxyHeader, type ProxyHeader } from './parser.js';
import {
  v1Header,
  v2Header,
  v2Inet,
  v2Inet6,
  v2Signature,
  v2Unix,
} from '../../test-support/proxy-headers.js';

/** The header parsed from `bytes` fed one byte at a time: `undefined` until the last one. */
function parseByteByByte(bytes: Buffer, version: 'v1' | 'v2' | 'any' = 'any'): ProxyHeader | undefined {
  for (let end = 1; end < bytes.length; end += 1) {
    expect(parseProxyHeader(bytes.subarray(0, end), version)).toBeUndefined();
  }
  return parseProxyHeader(bytes, version);
}

function failure(bytes: Uint8Array, version: 'v1' | 'v2' | 'any' = 'any', max?: number): ProxyProtocolError {
  try {
    parseProxyHeader(bytes, version, max);
  } catch (error) {
    expect(error).toBeInstanceOf(ProxyProtocolError);
    expect((error as ProxyProtocolError).code).toBe('ERR_PROXY_PROTOCOL');
    expect((error as Error).message).toMatch(/^PROXY protocol: [^\n]+$/);
    return error as ProxyProtocolError;
  }
  throw new Error(`accepted: ${Buffer.from(bytes).toString('hex')}`);
}

describe('parseProxyHeader, v1', () => {
  it('reads TCP4 and TCP6 lines, only once the CRLF is in', () => {
    const line = v1Header(['203.0.113.7', 51234], ['192.0.2.1', 443]);
    expect(parseByteByByte(line)).toEqual({
      version: 1,
      command: 'PROXY',
      source: { host: '203.0.113.7', port: 51234, family: 'IPv4' },
      destination: { host: '192.0.2.1', port: 443, family: 'IPv4' },
      tlvs: [],
      length: line.length,
    });
    const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0::1 ::1 65535 0\r\nHello\n'), 'v1');
    expect(six).toMatchObject({
      source: { host: '2001:db8::1', port: 65535, family: 'IPv6' },
      destination: { host: '::1', port: 0, family: 'IPv6' },
      length: 'PROXY TCP6 2001:DB8:0:0::1 ::1 65535 0\r\n'.length,
    });
  });

  it('reports an IPv4-mapped IPv6 client as IPv4, as a socket does', () => {
    expect(
      parseProxyHeader(Buffer.from('PROXY TCP6 ::ffff:198.51.100.4 ::1 1000 20000\r\n'))?.source,
    ).toEqual({
      host: '198.51.100.4',
      port: 1000,
      family: 'IPv4',
    });
  });

  it('takes UNKNOWN as the proxy speaking for itself (no source)', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n']) {
      expect(parseProxyHeader(Buffer.from(line))).toMatchObject({
        command: 'LOCAL',
        source: undefined,
        length: line.length,
      });
    }
  });

  it.each([
    ['a bad protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['a missing field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'],
    ['an extra field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'],
    ['two spaces', 'PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n'],
    ['an IPv6 address in TCP4', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n'],
    ['an IPv4 address in TCP6', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n'],
    ['an octet over 255', 'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'],
    ['a zone id', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'],
    ['a port over 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'],
    ['a port with a leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'],
    ['a negative port', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n'],
    ['lower case', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['a lone LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
    ['a NUL byte', 'PROXY TCP4 1.2.3.4\0'],
    ['not a header at all', 'Hello\n'],
  ])('refuses %s as malformed', (_name, text) => {
    expect(failure(Buffer.from(text, 'latin1')).reason).toBe('malformed');
  });

  it('fails on the first byte that cannot start a header, without waiting for more', () => {
    expect(failure(Buffer.from('H')).reason).toBe('malformed');
    expect(failure(Buffer.from('PROXX')).reason).toBe('malformed');
    expect(failure(Buffer.from('\x16\x03\x01')).message).toMatch(/got bytes 160301/); // a TLS ClientHello
  });

  it('refuses a line longer than 107 bytes as oversized, at 107 bytes', () => {
    const long = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}\r\n`);
    expect(parseProxyHeader(long.subarray(0, 106))).toBeUndefined();
    expect(failure(long.subarray(0, 107)).reason).toBe('oversized');
    const exact = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(107 - 16)}\r\n`);
    expect(exact.length).toBe(107);
    expect(parseProxyHeader(exact)?.length).toBe(107);
  });

  it('refuses a v2 header when only v1 is accepted, and the other way round', () => {
    expect(failure(v2Header({ addresses: v2Inet(['1.2.3.4', 1]) }), 'v1').message).toMatch(
      /expected a v1 header/,
    );
    expect(failure(v1Header(['1.2.3.4', 1]), 'v2').message).toMatch(/expected a v2 header/);
  });
});

describe('parseProxyHeader, v2', () => {
  it('reads IPv4, IPv6 and Unix addresses, only once the whole header is in', () => {
    const inet = v2Header({ addresses: v2Inet(['203.0.113.7', 51234], ['192.0.2.1', 443]) });
    expect(parseByteByByte(inet, 'v2')).toEqual({
      version: 2,
      command: 'PROXY',
      source: { host: '203.0.113.7', port: 51234, family: 'IPv4' },
      destination: { host: '192.0.2.1', port: 443, family: 'IPv4' },
      tlvs: [],
      length: 28,
    });
    expect(parseProxyHeader(v2Header({ addresses: v2Inet6(['2001:db8::7', 8080]) }))).toMatchObject({
      source: { host: '2001:db8::7', port: 8080, family: 'IPv6' },
      length: 52,
    });
    expect(
      parseProxyHeader(v2Header({ addresses: v2Unix('/run/client.sock', '/run/server.sock') })),
    ).toMatchObject({
      source: { path: '/run/client.sock', family: 'Unix' },
      destination: { path: '/run/server.sock', family: 'Unix' },
      length: 232,
    });
    expect(parseProxyHeader(v2Header({ addresses: v2Unix('\0abstract') }))?.source).toEqual({
      path: '\0abstract',
      family: 'Unix',
    });
  });

  it('takes LOCAL (a health check) and AF_UNSPEC as no source, addresses present or not', () => {
    expect(parseProxyHeader(v2Header({ command: 0 }))).toMatchObject({
      command: 'LOCAL',
      source: undefined,
      length: 16,
    });
    expect(parseProxyHeader(v2Header({ command: 0, addresses: v2Inet(['1.2.3.4', 5]) }))).toMatchObject({
      command: 'LOCAL',
      source: undefined,
    });
    expect(parseProxyHeader(v2Header({ command: 1 }))).toMatchObject({ command: 'PROXY', source: undefined });
  });

  it('returns the TLVs and checks a CRC32c one', () => {
    const authority = { type: 0x02, value: Buffer.from('example.com') };
    const header = v2Header({ addresses: v2Inet(['1.2.3.4', 5]), tlvs: [authority], crc: 'right' });
    const parsed = parseProxyHeader(header);
    expect(parsed?.tlvs).toHaveLength(2);
    expect(parsed?.tlvs[0]).toEqual(authority);
    expect(
      failure(v2Header({ addresses: v2Inet(['1.2.3.4', 5]), tlvs: [authority], crc: 'wrong' })).message,
    ).toMatch(/CRC32c/);
  });

  it('computes CRC-32C as the standard check value says', () => {
    expect(crc32c(Buffer.from('123456789')).toString(16)).toBe('e3069283');
  });

  it.each([
    ['a wrong signature byte', Buffer.concat([v2Signature.subarray(0, 5), Buffer.from('X')])],
    ['version 1 in the version nibble', v2Header({ version: 1 })],
    ['version 3 in the version nibble', v2Header({ version: 3 })],
    ['command 2', v2Header({ command: 2 })],
    ['a length shorter than its IPv4 addresses', v2Header({ addresses: v2Inet(['1.2.3.4', 5]), length: 11 })],
    ['a length shorter than its Unix addresses', v2Header({ addresses: v2Unix('/a'), length: 100 })],
    [
      'a TLV running past the header',
      v2Header({ tlvs: [{ type: 0x05, value: Buffer.from('id') }], length: 4 }),
    ],
    ['a TLV cut in its head', v2Header({ tlvs: [{ type: 0x05, value: Buffer.alloc(0) }], length: 2 })],
  ])('refuses %s as malformed', (_name, bytes) => {
    expect(failure(bytes).reason).toBe('malformed');
  });

  it('refuses an unknown family or transport at byte 14, before the rest arrives', () => {
    const header = v2Header();
    header.writeUInt8(0x41, 13);
    expect(failure(header.subarray(0, 14)).message).toMatch(/family\/transport byte 0x41/);
    header.writeUInt8(0x13, 13);
    expect(failure(header.subarray(0, 14)).reason).toBe('malformed');
  });

  it('refuses a length beyond maxProxyHeaderSize as oversized, from the length field alone', () => {
    const header = v2Header({ length: 5000 });
    expect(failure(header.subarray(0, 16)).reason).toBe('oversized');
    expect(parseProxyHeader(header.subarray(0, 16), 'v2', 16 + 5000)).toBeUndefined();
  });
});

describe('parseProxyHeader against proxy-protocol-js (a well-kept parser and builder)', () => {
  const ipv4 = fc.ipV4();
  const ipv6 = fc.ipV6();
  const port = fc.integer({ min: 0, max: 65_535 });

  it('reads every v1 line proxy-protocol-js builds as it does', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        ipv4,
        ipv6,
        ipv4,
        ipv6,
        port,
        port,
        (isSix, s4, s6, d4, d6, sourcePort, destinationPort) => {
          const line = new reference.V1ProxyProtocol(
            isSix ? reference.INETProtocol.TCP6 : reference.INETProtocol.TCP4,
            new reference.Peer(isSix ? s6 : s4, sourcePort),
            new reference.Peer(isSix ? d6 : d4, destinationPort),
          ).build();
          const theirs = reference.V1ProxyProtocol.parse(line);
          const ours = parseProxyHeader(Buffer.from(`${line}rest`, 'latin1'), 'v1');
          expect(ours?.length).toBe(line.length);
          expect(ours?.source).toMatchObject({ port: theirs.source.port });
          expect(ours?.destination).toMatchObject({ port: theirs.destination.port });
          const host = (ours?.source as { host: string }).host;
          // Ours is the canonical text a socket reports; the same address either way.
          expect(canonical(host)).toBe(canonical(theirs.source.ipAddress));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads every v2 header proxy-protocol-js builds as it does (IPv4, IPv6, Unix; PROXY and LOCAL)', () => {
    const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
    const address = fc.oneof(
      fc.tuple(fc.constant('inet' as const), bytes(4), bytes(4), port, port),
      fc.tuple(fc.constant('inet6' as const), bytes(16), bytes(16), port, port),
      fc.tuple(
        fc.constant('unix' as const),
        fc.stringMatching(/^\/[a-z0-9/._-]{0,100}$/),
        fc.stringMatching(/^\/[a-z0-9/._-]{0,100}$/),
        port,
        port,
      ),
    );
    fc.assert(
      fc.property(
        fc.boolean(),
        address,
        (isLocal, [kind, source, destination, sourcePort, destinationPort]) => {
          const proxyAddress =
            kind === 'inet'
              ? new reference.IPv4ProxyAddress(
                  reference.IPv4Address.createFrom([...(source as Uint8Array)]),
                  sourcePort,
                  reference.IPv4Address.createFrom([...(destination as Uint8Array)]),
                  destinationPort,
                )
              : kind === 'inet6'
                ? new reference.IPv6ProxyAddress(
                    reference.IPv6Address.createFrom([...(source as Uint8Array)]),
                    sourcePort,
                    reference.IPv6Address.createFrom([...(destination as Uint8Array)]),
                    destinationPort,
                  )
                : new reference.UnixProxyAddress(
                    reference.UnixAddress.createFrom([...Buffer.from(source).subarray(0, 108)]),
                    reference.UnixAddress.createFrom([...Buffer.from(destination).subarray(0, 108)]),
                  );
          const built = new reference.V2ProxyProtocol(
            isLocal ? reference.Command.LOCAL : reference.Command.PROXY,
            reference.TransportProtocol.STREAM,
            proxyAddress,
          ).build();
          const theirs = reference.V2ProxyProtocol.parse(built);
          const ours = parseProxyHeader(Buffer.concat([built, Buffer.from('rest')]), 'v2');
          expect(ours?.length).toBe(built.length);
          expect(ours?.command).toBe(theirs.command === reference.Command.LOCAL ? 'LOCAL' : 'PROXY');
          if (isLocal) return;
          const theirSource = theirs.proxyAddress;
          if (theirSource instanceof reference.IPv4ProxyAddress) {
            expect(ours?.source).toEqual({
              host: theirSource.sourceAddress.address.join('.'),
              port: theirSource.sourcePort,
              family: 'IPv4',
            });
          } else if (theirSource instanceof reference.IPv6ProxyAddress) {
            expect(ours?.source).toMatchObject({ port: theirSource.sourcePort });
            const host = (ours?.source as { host: string }).host;
            expect(canonical(host)).toBe(canonical(ipv6Text(theirSource.sourceAddress.address)));
          } else if (theirSource instanceof reference.UnixProxyAddress) {
            expect(ours?.source).toEqual({ path: source, family: 'Unix' });
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws anything but a ProxyProtocolError, and never reads past its length, on any bytes', () => {
    const prefixes = [v2Signature, Buffer.from('PROXY '), Buffer.alloc(0)];
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 300 }), (prefix, tail) => {
        const bytes = Buffer.concat([prefix, tail]);
        try {
          const header = parseProxyHeader(bytes);
          if (header !== undefined) expect(header.length).toBeLessThanOrEqual(bytes.length);
        } catch (error) {
          expect(error).toBeInstanceOf(ProxyProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/** An IP address as one canonical text: IPv4 as IPv4-mapped IPv6, all in RFC 5952 form. */
function canonical(host: string): string {
  const address = net.isIPv4(host) ? `::ffff:${host}` : host;
  return new net.SocketAddress({ address, family: 'ipv6' }).address;
}

/** The text of a 16-byte IPv6 address. */
function ipv6Text(bytes: readonly number[]): string {
  const groups: string[] = [];
  for (let at = 0; at < 16; at += 2)
    groups.push((((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0)).toString(16));
  return groups.join(':');
}
