import { describe, expect, it } from 'vitest';
import { DatagramWriter } from './datagram-writer.js';

describe('DatagramWriter', () => {
  it('collects strings as UTF-8 and bytes, resolving at once', async () => {
    const writer = new DatagramWriter();
    expect(writer.maxReplySize).toBe(65_507);
    expect(writer.contents()).toEqual(Buffer.alloc(0));
    await writer.write('héllo ');
    await writer.write(new Uint8Array([0x62, 0x79, 0x65]));
    await writer.write('');
    expect(writer.writtenLength).toBe(10);
    expect(writer.contents().toString()).toBe('héllo bye');
    expect(writer.hasOverflowed).toBe(false);
  });

  it('copies what it is given: changing the buffer after writing it changes nothing', async () => {
    const writer = new DatagramWriter();
    const bytes = Buffer.from('abc');
    await writer.write(bytes);
    bytes.fill(0x7a);
    expect(writer.contents().toString()).toBe('abc');
  });

  it('takes a reply of exactly maxReplySize; past it rejects with ERR_SEND_FAILED and collects nothing more', async () => {
    const writer = new DatagramWriter({ maxReplySize: 4 });
    await writer.write('ab');
    await writer.write('cd');
    expect(writer.writtenLength).toBe(4);
    const error: unknown = await writer.write('e').catch((failure: unknown) => failure);
    expect(error).toMatchObject({ code: 'ERR_SEND_FAILED' });
    expect((error as Error).message).toBe(
      'the reply would exceed maxReplySize (4 bytes): 4 bytes written, 1 more refused',
    );
    expect(writer.hasOverflowed).toBe(true);
    expect(writer.contents().toString()).toBe('abcd');

    const other = new DatagramWriter({ maxReplySize: 4 });
    await expect(other.write('é...')).rejects.toMatchObject({ code: 'ERR_SEND_FAILED' }); // 4 chars, 5 bytes
    await expect(other.write('ok')).rejects.toMatchObject({ code: 'ERR_SEND_FAILED' });
    expect(other.writtenLength).toBe(0);
  });

  it('refuses a maxReplySize that is not an integer >= 1', () => {
    for (const maxReplySize of [0, -1, 1.5, Number.NaN, '8' as unknown as number]) {
      expect(() => new DatagramWriter({ maxReplySize })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
      );
    }
  });
});
