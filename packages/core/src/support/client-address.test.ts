import { describe, expect, it } from 'vitest';
import { clientAddressOf, formatClientAddress, formatUnixPath, unnamedUnixPeer } from './client-address.js';

describe('formatClientAddress', () => {
  it('shows IPv4 as a 2-tuple and IPv6 as a 4-tuple, as Python prints them', () => {
    expect(formatClientAddress({ host: '127.0.0.1', port: 5000, family: 'IPv4' })).toBe(
      "('127.0.0.1', 5000)",
    );
    expect(formatClientAddress({ host: '::1', port: 5000, family: 'IPv6' })).toBe("('::1', 5000, 0, 0)");
  });

  it("shows a Unix peer as its path's repr: '' when unnamed, the path when bound", () => {
    expect(unnamedUnixPeer).toEqual({ family: 'Unix', path: '' });
    expect(Object.isFrozen(unnamedUnixPeer)).toBe(true);
    expect(formatClientAddress(unnamedUnixPeer)).toBe("''");
    expect(formatClientAddress({ family: 'Unix', path: '/run/app.sock' })).toBe("'/run/app.sock'");
  });

  it('escapes backslashes in a path, as a Python repr', () => {
    expect(formatUnixPath('/tmp/a\\b.sock')).toBe("'/tmp/a\\\\b.sock'");
  });

  it("shows a Linux abstract name as bytes: b'\\x00name', non-ASCII bytes escaped", () => {
    expect(formatUnixPath('\0name')).toBe("b'\\x00name'");
    expect(formatClientAddress({ family: 'Unix', path: '\0é' })).toBe("b'\\x00\\xc3\\xa9'");
  });

  it('escapes what is not printable, as a Python repr: a path cannot forge lines or drive a terminal', () => {
    expect(formatUnixPath('/tmp/a\nb\x1b[2J.sock')).toBe("'/tmp/a\\nb\\x1b[2J.sock'");
    expect(formatClientAddress({ family: 'Unix', path: '/tmp/\r\t\x85\u2028\u202e\ud800' })).toBe(
      "'/tmp/\\r\\t\\x85\\u2028\\u202e\\ud800'",
    );
    expect(formatUnixPath('/tmp/é.sock')).toBe("'/tmp/é.sock'");
  });

  it("quotes as Python's repr: double quotes for a single quote alone, else the quote escaped", () => {
    expect(formatUnixPath("/tmp/it's")).toBe('"/tmp/it\'s"');
    expect(formatUnixPath('/tmp/"it\'s"')).toBe("'/tmp/\"it\\'s\"'");
  });

  it('escapes an abstract name byte by byte as a Python bytes repr: \\t \\n \\r, \\xNN, the quote', () => {
    expect(formatUnixPath('\0a\nb\x1b[2J')).toBe("b'\\x00a\\nb\\x1b[2J'");
    expect(formatUnixPath("\0it's")).toBe('b"\\x00it\'s"');
    expect(formatUnixPath('\0"\'\\')).toBe("b'\\x00\"\\'\\\\'");
  });

  it('escapes a host too (an IPv6 scope may name any interface)', () => {
    expect(formatClientAddress({ host: 'fe80::1%eth\n0', port: 1, family: 'IPv6' })).toBe(
      "('fe80::1%eth\\n0', 1, 0, 0)",
    );
  });
});

describe('clientAddressOf', () => {
  it('reports an IPv4-mapped peer of a dual-stack socket as IPv4', () => {
    expect(
      clientAddressOf({ remoteAddress: '::ffff:127.0.0.1', remotePort: 4000, remoteFamily: 'IPv6' }),
    ).toEqual({ host: '127.0.0.1', port: 4000, family: 'IPv4' });
    expect(
      clientAddressOf({ remoteAddress: '::FFFF:10.0.0.1', remotePort: 1, remoteFamily: 'IPv6' }),
    ).toEqual({
      host: '10.0.0.1',
      port: 1,
      family: 'IPv4',
    });
  });

  it('keeps IPv6 and IPv4 peers as they are, and is undefined for a socket without a peer', () => {
    expect(clientAddressOf({ remoteAddress: '::1', remotePort: 2, remoteFamily: 'IPv6' })).toEqual({
      host: '::1',
      port: 2,
      family: 'IPv6',
    });
    expect(clientAddressOf({ remoteAddress: '::ffff:abcd', remotePort: 3, remoteFamily: 'IPv6' })).toEqual({
      host: '::ffff:abcd',
      port: 3,
      family: 'IPv6',
    });
    expect(clientAddressOf({ remoteAddress: '192.0.2.1', remotePort: 4, remoteFamily: 'IPv4' })).toEqual({
      host: '192.0.2.1',
      port: 4,
      family: 'IPv4',
    });
    expect(clientAddressOf({})).toBeUndefined();
    expect(clientAddressOf({ remoteAddress: '::1' })).toBeUndefined();
  });
});
