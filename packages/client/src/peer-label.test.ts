import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connectUnix } from './connect-unix.js';
import { hostPortLabel, unixPathLabel } from './peer-label.js';

describe('the copy of core printable', () => {
  it("is core's file as it is (this package cannot depend on core, whose tests depend on it)", () => {
    const read = (url: string): string => readFileSync(new URL(url, import.meta.url), 'utf8');
    expect(read('./printable.ts')).toBe(read('../../core/src/support/printable.ts'));
  });
});

describe('peer labels', () => {
  it('name a path, an abstract name and a host with what is not printable escaped', () => {
    expect(unixPathLabel('/tmp/echo.sock')).toBe('/tmp/echo.sock');
    expect(unixPathLabel('/tmp/evil\n\x1b[2J.sock')).toBe('/tmp/evil\\n\\x1b[2J.sock');
    expect(unixPathLabel('\0name\u202e')).toBe('@name\\u202e');
    expect(hostPortLabel('127.0.0.1', 20000)).toBe('127.0.0.1:20000');
    expect(hostPortLabel('::1', 20000)).toBe('[::1]:20000');
    expect(hostPortLabel('host\r\n', 1)).toBe('host\\r\\n:1');
  });

  it('name the path of a failed connection escaped, in a one-line message', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'peer-label-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    const failure = await connectUnix(join(directory, 'gone\n\x1b[2J.sock')).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `Connection refused by ${join(directory, 'gone\\n\\x1b[2J.sock')}: no such file`,
    });
  });
});
