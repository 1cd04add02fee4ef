import { connect } from '@socketserver/client';

/** After SIGTERM the listener closes: connect until a new connection is refused (bounded). */
export async function waitUntilRefused(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      const probe = await connect('127.0.0.1', port, { timeoutMs: 1000 });
      await probe.close();
    } catch (error) {
      const { code } = error as { code?: string };
      if (code === 'ERR_CONNECTION_REFUSED') return;
      // Caught in the backlog as the listener closed: try again, the next one is refused.
      if (code !== 'ERR_CONNECTION_RESET') throw error;
    }
  }
  throw new Error(`port ${port} still accepts connections`);
}
