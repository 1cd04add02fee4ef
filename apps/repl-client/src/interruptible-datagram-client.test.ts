import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { InterruptibleDatagramClient } from './interruptible-datagram-client.js';
import { PendingOperations } from './pending-operations.js';
import { startUDPServer, startUnixDatagramServer } from './test-support/servers.js';

/** A UDP socket on 127.0.0.1 with its own PendingOperations; closed when the test ends. */
async function openUDP(): Promise<{ client: InterruptibleDatagramClient; operations: PendingOperations }> {
  const operations = new PendingOperations();
  const client = await InterruptibleDatagramClient.openUDP(operations);
  onTestFinished(() => client.close());
  return { client, operations };
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('InterruptibleDatagramClient', () => {
  it('sends a datagram to a UDP server and receives the reply with its address', async () => {
    await using server = await startUDPServer();
    const { client } = await openUDP();
    await client.sendTo('Hello\n', ['127.0.0.1', server.port]);
    const [data, address] = await client.recvFrom();
    expect(String(data)).toBe('Hello\n');
    expect(address).toEqual(['127.0.0.1', server.port]);
    expect(client.receivedDatagrams).toBe(1);
    expect(client.droppedDatagrams).toBe(0);
  });

  it('cancels a waiting recvFrom with ERR_ABORTED; the socket stays usable and loses nothing', async () => {
    await using server = await startUDPServer();
    const { client, operations } = await openUDP();
    const [, localPort] = client.address as [string, number];

    const waiting = client.recvFrom();
    expect(operations.size).toBe(1);
    const startedAt = performance.now();
    expect(operations.cancelAll(new Error('Ctrl-C'))).toBe(1);
    expect(await rejection(waiting)).toMatchObject({
      code: 'ERR_ABORTED',
      message: `recvFrom() on 127.0.0.1:${localPort} was aborted`,
    });
    expect(performance.now() - startedAt).toBeLessThan(1000);
    expect(operations.size).toBe(0);

    await client.sendTo('after the cancel\n', ['127.0.0.1', server.port]);
    const [data] = await client.recvFrom();
    expect(String(data)).toBe('after the cancel\n');
  });

  it("also ends recvFrom on the caller's signal, and keeps its timeoutMs", async () => {
    const { client, operations } = await openUDP();
    const controller = new AbortController();
    const waiting = client.recvFrom({ signal: controller.signal });
    controller.abort(new Error('mine'));
    expect(await rejection(waiting)).toMatchObject({ code: 'ERR_ABORTED' });
    expect(operations.size).toBe(0);

    const startedAt = performance.now();
    expect(await rejection(client.recvFrom({ timeoutMs: 100 }))).toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(95);
  });

  it('shows itself as a UDP socket at its address, open or closed', async () => {
    const { client } = await openUDP();
    const [host, port] = client.address as [string, number];
    expect(client.isUnixDomain).toBe(false);
    expect(client.description).toBe(`UDP socket at ${host}:${port}`);
    expect(inspect(client)).toBe(`<UDP socket at ${host}:${port}, open>`);
    await client.close();
    expect(client.isClosed).toBe(true);
    expect(String(client)).toBe(`UDP socket at ${host}:${port}, closed`);
    expect(await rejection(client.recvFrom())).toMatchObject({ code: 'ERR_CLIENT_CLOSED' });
  });

  it('talks to a Unix datagram server from a temporary path, which close() removes', async () => {
    await using server = await startUnixDatagramServer();
    const operations = new PendingOperations();
    const client = await InterruptibleDatagramClient.openUnix(operations);
    onTestFinished(() => client.close());
    const path = client.address as string;
    expect(client.isUnixDomain).toBe(true);
    expect(inspect(client)).toBe(`<Unix datagram socket at ${path}, open>`);

    await client.sendTo('Hello\n', server.path);
    const [data, address] = await client.recvFrom();
    expect(String(data)).toBe('Hello\n');
    expect(address).toBe(server.path);

    const waiting = client.recvFrom();
    operations.cancelAll(new Error('Ctrl-C'));
    expect(await rejection(waiting)).toMatchObject({
      code: 'ERR_ABORTED',
      message: `recvFrom() on ${path} was aborted`,
    });

    client.destroy();
    await client.close();
    expect(existsSync(dirname(path))).toBe(false);
  });
});
