import net from 'node:net';
import { onTestFinished } from 'vitest';
import { startHaproxy, type HaproxyProcess } from './haproxy.js';

/**
 * HAProxy on `configFor(frontendPort)`, with a frontend port that was free a moment ago on `host`
 * (HAProxy binds a fixed one); a port taken meanwhile fails the bind: another one, at most three
 * times. Stopped when the test ends.
 */
export async function startHaproxyOnFreePort(
  configFor: (frontendPort: number) => string,
  host = '127.0.0.1',
): Promise<{ proxy: HaproxyProcess; frontendPort: number }> {
  for (let attempt = 1; ; attempt += 1) {
    const frontendPort = await freePort(host);
    try {
      const proxy = await startHaproxy(configFor(frontendPort));
      onTestFinished(() => proxy.stop());
      return { proxy, frontendPort };
    } catch (error) {
      if (attempt === 3 || !/cannot bind|Address already in use/i.test(String(error))) throw error;
    }
  }
}

/** A port free a moment ago on `host`, for tools that bind a fixed one. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const probe = net.createServer().listen(0, host);
  await new Promise((resolve) => probe.once('listening', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
