import { fileURLToPath } from 'node:url';
import { ServerProcess } from '@socketserver/client/server-process';
import { onTestFinished } from 'vitest';

/** The echo-server command, as the package's `bin` runs it. */
export const echoServerBin: string = fileURLToPath(new URL('../../bin/echo-server.js', import.meta.url));

/** The banner of a server on a port (`Multithreaded` for a pool), the port captured. */
export const runningOnPortLine = /^(?:Echo|Multithreaded) server running on port (\d+)$/;

/** Start echo-server with these flags; its port once the banner says it. Killed when the test ends. */
export async function startEchoServer(
  args: readonly string[],
): Promise<{ server: ServerProcess; port: number }> {
  const server = ServerProcess.start(process.execPath, [echoServerBin, ...args]);
  onTestFinished(() => server[Symbol.asyncDispose]());
  const line = await server.waitForLine(runningOnPortLine);
  return { server, port: Number(runningOnPortLine.exec(line)?.[1]) };
}

/** Run echo-server to its end (bad flags, a port in use, --help): its exit code and output. */
export async function runToExit(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  await using server = ServerProcess.start(process.execPath, [echoServerBin, ...args]);
  const { code } = await server.waitForExit();
  return { code, stdout: server.stdout, stderr: server.stderr };
}
