import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { socketPathFromArgument, socketPathLabel, sourceLiteral, udpBindingFor } from './socket-address.js';

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

  it('gives back the value when run as JavaScript', () => {
    for (const value of ['\0a1', '\'"\\', 'tab\there', '\0\0', '/tmp/echo.sock']) {
      expect(runInNewContext(sourceLiteral(value)) as unknown).toBe(value);
    }
  });
});
