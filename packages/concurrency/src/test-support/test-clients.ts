import { randomBytes, randomInt } from 'node:crypto';
import { onTestFinished } from 'vitest';
import { connect, type TestClient } from '@socketserver/client';

/** A client of the server on `port`, reset when the test finishes if still open. */
export async function openClient(port: number): Promise<TestClient> {
  const client = await connect('127.0.0.1', port);
  onTestFinished(() => client.destroy());
  return client;
}

/** Which worker serves the client: `<pid> <threadId>`, from the fixture's `!whoami`. */
export async function whoami(client: TestClient): Promise<string> {
  await client.sendAll('!whoami\n');
  return (await client.readline()).toString().trimEnd();
}

/** The pid in a {@link whoami} answer. */
export function pidOf(worker: string): number {
  return Number(worker.split(' ')[0]);
}

/** At least `length` bytes of random hex lines, 1 to 200 bytes long with their `\n`. */
export function randomLines(length: number): Buffer {
  const lines: Buffer[] = [];
  let total = 0;
  while (total < length) {
    const line = Buffer.from(`${randomBytes(randomInt(100)).toString('hex')}\n`);
    lines.push(line);
    total += line.length;
  }
  return Buffer.concat(lines);
}
