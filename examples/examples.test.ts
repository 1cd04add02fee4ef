import { fileURLToPath } from 'node:url';
import { connect } from '@socketserver/client';
import { ServerProcess } from '@socketserver/client/server-process';
import { describe, expect, it, onTestFinished } from 'vitest';

const runningLine = /^(Echo|Multithreaded) server running on port (\d+)$/;

/** Each example, run as a user runs it (`node examples/x.ts 0`), through the recipe's session. */
describe.each([
  'echo-raw.ts',
  'echo-stream.ts',
  'echo-threading.ts',
  'echo-pool.ts',
  'echo-socket-options.ts',
  'echo-allow-reuse-address.ts',
])('examples/%s', (file) => {
  it("serves the recipe's client session and leaves on SIGINT with status 1", async () => {
    const server = ServerProcess.start(process.execPath, [
      fileURLToPath(new URL(file, import.meta.url)),
      '0',
    ]);
    onTestFinished(() => server[Symbol.asyncDispose]());
    const [, kind, port] = runningLine.exec(await server.waitForLine(runningLine)) ?? [];

    const ports: number[] = [];
    for (let session = 0; session < 2; session += 1) {
      await using s = await connect('localhost', Number(port));
      ports.push(s.localPort);
      expect(await s.send('Hello\n')).toBe(6);
      const resp = await s.recv(8192);
      expect(`Response: ${JSON.stringify(resp.toString())}`).toBe('Response: "Hello\\n"');
      await s.close();
    }
    await server.waitForLine(`Got connection from ('127.0.0.1', ${ports[1]})`);

    server.kill('SIGINT');
    expect(await server.waitForExit()).toEqual({ code: 1, signal: null });
    expect(server.stdout).toBe(
      [
        `${kind} server running on port ${port}`,
        ...ports.map((p) => `Got connection from ('127.0.0.1', ${p})`),
        '',
        '',
        'Leaving.',
        '',
      ].join('\n'),
    );
    expect(server.stderr).toBe('');
  });
});
