import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  hostPortLabel,
  socketPathFromArgument,
  socketPathLabel,
  sourceLiteral,
  udpBindingFor,
} from './socket-address.js';

describe('socketPathFromArgument and socketPathLabel', () => {
  it('read @name as a Linux abstract name and show it back as @name', () => {
    expect(socketPathFromArgument('@echo')).toBe('\0echo');
    expect(socketPathLabel('\0echo')).toBe('@echo');
  });

  it('take any other path as is', () => {
    for (const path of ['/tmp/echo.sock', 'echo.sock', './@echo', 'a@b']) {
      expect(socketPathFromArgument(path)).toBe(path);
      expect(socketPathLabel(path)).toBe(path);
    }
  });

  it('escape what is not printable in a label, as core printable does', () => {
    expect(socketPathLabel('/tmp/evil\n\x1b[2J.sock')).toBe('/tmp/evil\\n\\x1b[2J.sock');
    expect(socketPathLabel('\0name\u202e')).toBe('@name\\u202e');
    expect(hostPortLabel('::1', 20000)).toBe('[::1]:20000');
    expect(hostPortLabel('host\n', 20000)).toBe('host\\n:20000');
  });
});

describe('udpBindingFor', () => {
  it('binds every IPv4 address, port 0, for a host name or IPv4 address, as AF_INET does', () => {
    for (const host of ['localhost', '127.0.0.1', 'example.test']) {
      expect(udpBindingFor(host)).toEqual({ family: 4, host: '0.0.0.0' });
    }
  });

  it('binds every IPv6 address for an IPv6 address', () => {
    expect(udpBindingFor('::1')).toEqual({ family: 6, host: '::' });
  });
});

describe('sourceLiteral', () => {
  it('writes strings single-quoted, escaping what a JavaScript string literal needs', () => {
    expect(sourceLiteral('/tmp/echo.sock')).toBe("'/tmp/echo.sock'");
    expect(sourceLiteral("it's\\\n\r\t")).toBe("'it\\'s\\\\\\n\\r\\t'");
    expect(sourceLiteral('\0echo')).toBe("'\\0echo'");
    // '\01' would read as a legacy octal escape.
    expect(sourceLiteral('\x001')).toBe("'\\x001'");
  });

  it('writes numbers and [host, port] addresses', () => {
    expect(sourceLiteral(20000)).toBe('20000');
    expect(sourceLiteral(['localhost', 20000])).toBe("['localhost', 20000]");
  });

  it('escapes what is not printable, so the literal is one line that drives no terminal', () => {
    expect(sourceLiteral('/tmp/\x1b[2J\x85\u2028\u202e\ud800é')).toBe(
      "'/tmp/\\x1b[2J\\x85\\u2028\\u202e\\ud800é'",
    );
    expect(sourceLiteral('\u{e0001}')).toBe("'\\u{e0001}'");
  });

  it('gives back the value when run as JavaScript', () => {
    for (const value of [
      '\0a1',
      '\'"\\',
      'tab\there',
      '\0\0',
      '/tmp/echo.sock',
      '/tmp/\x1b[2J\x7f\x85\u2028\u202e\ud800\u{e0001}😀é',
    ]) {
      expect(runInNewContext(sourceLiteral(value)) as unknown).toBe(value);
    }
  });
});
