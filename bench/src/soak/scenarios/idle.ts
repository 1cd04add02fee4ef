// Idle connections: open N (each echoes one line), measure the server's RSS per connection, then
// check every one of them still echoes.
import { EchoConnection, describeCounts, errorCode, forEachLimited, freshClient, lineOf } from '../client.ts';
import { count, kib, mib, needsConnectionsAtOnce, type Scenario } from '../scenario.ts';

/** Connects in flight at once: under the server's listen backlog (128), so no SYN is dropped. */
const openingAtOnce = 100;

export const idle: Scenario = {
  id: 'idle',
  label: (sizes) => `idle-${count(sizes.idleConnections)}`,
  held:
    'every connection opens and echoes a line, and once all are open each echoes a second line; ' +
    'the figure is the RSS of the server process tree per connection',
  byDesign: (strategy, sizes) =>
    needsConnectionsAtOnce(strategy, sizes.idleConnections, `${sizes.idleConnections} idle connections`),

  async run({ sizes, startServer }) {
    const server = await startServer();
    const wanted = sizes.idleConnections;
    // The first connection starts what a server starts lazily; RSS is measured from there.
    await freshClient(server.port, 30_000, 'warm-up');
    const rssBeforeBytes = server.rssBytes();
    const startedAt = performance.now();
    const connections: EchoConnection[] = [];
    const openErrors: string[] = [];
    await forEachLimited(wanted, openingAtOnce, async (index) => {
      try {
        const connection = await EchoConnection.open(server.port, 30_000);
        connections.push(connection);
        connection.send(lineOf(`idle ${index} open`, 32));
        await connection.echoed(30_000);
      } catch (error) {
        openErrors.push(errorCode(error));
      }
    });
    const openSeconds = (performance.now() - startedAt) / 1000;
    const rssAfterBytes = server.rssBytes();
    const opened = wanted - openErrors.length;

    const endErrors: string[] = [];
    await forEachLimited(connections.length, 1000, async (index) => {
      const connection = connections[index] as EchoConnection;
      try {
        connection.send(lineOf(`idle ${index} still here`, 32));
        await connection.echoed(60_000);
      } catch (error) {
        endErrors.push(errorCode(error));
      }
    });
    for (const connection of connections) connection.socket.destroy();
    const echoedAtEnd = connections.length - endErrors.length;

    const perConnectionBytes = (rssAfterBytes - rssBeforeBytes) / Math.max(1, opened);
    const failures: string[] = [];
    if (openErrors.length > 0)
      failures.push(`${openErrors.length} failed to open and echo: ${describeCounts(openErrors)}`);
    if (echoedAtEnd !== wanted) {
      failures.push(
        `${echoedAtEnd}/${wanted} echoed at the end${endErrors.length > 0 ? `: ${describeCounts(endErrors)}` : ''}`,
      );
    }
    return {
      figure:
        `${opened} connections in ${openSeconds.toFixed(1)} s, ${kib(perConnectionBytes)} RSS/connection ` +
        `(server tree ${mib(rssBeforeBytes)} → ${mib(rssAfterBytes)}), ${echoedAtEnd}/${wanted} echo at the end`,
      metrics: {
        connections: opened,
        rssBeforeBytes,
        rssAfterBytes,
        rssPerConnectionBytes: Math.round(perConnectionBytes),
        echoedAtEnd,
        openSeconds: Math.round(openSeconds * 100) / 100,
      },
      failures,
    };
  },
};
