// Worker kills: while clients run echo loops, SIGKILL the server's worker processes (its children:
// a fork server's per-connection processes, a process pool's workers) one at a time. A connection
// the killed worker held is lost by design, and counted as such: which connections a worker holds
// is read from /proc just before the kill (its socket inodes, matched with the client ports in
// /proc/net/tcp). Every other connection must lose no byte, and the server must serve on.
import { LineContent } from '../../load/line-content.ts';
import { Changes, EchoConnection, describeCounts, errorCode, freshClients, pollUntil } from '../client.ts';
import { peerPortsByInode, socketInodesOf, type SoakServer } from '../server.ts';
import { count, ms, type Scenario } from '../scenario.ts';

const clients = 8;
const linesPerSession = 50;
const lineBytes = 100;
/**
 * The longest a pool waits before it starts a worker again after workers died within 1 s of
 * starting (its crash-loop guard): kills in a row look like that to it (a fork server's children).
 */
const startBackOffMs = 5_000;
/** How long the echoes may stall after a kill, or a replacement take to start, besides the back-off. */
const progressWithinMs = 15_000;
/** A bound on each loop besides stop(): far more than a run of 100 kills makes. */
const maxSessionsPerLoop = 100_000;
/** An echo (or a close) that takes longer than this is a connection left hanging. */
const hangMs = 30_000;
/** A connection lost before its first echo, this soon after a kill, was on its way to the killed worker. */
const handoffWindowMs = 2_000;

interface Session {
  readonly connection: EchoConnection;
  echoedLines: number;
  heldByKilledWorker: boolean;
}

/** The echo loops: sessions of `linesPerSession` ping-pong lines on a fresh connection, classified as they end. */
class EchoLoops {
  readonly progress = new Changes();
  readonly live = new Map<number, Session>();
  linesEchoed = 0;
  completed = 0;
  lostWithKilledWorker = 0;
  lostInHandoff = 0;
  /** Lost where no kill explains it, a wrong byte, a hang, a failed connect: each fails the scenario. */
  readonly failures: string[] = [];
  lastKillAt = Number.NEGATIVE_INFINITY;
  #isStopping = false;
  #sessionIds = 0;
  readonly #loops: Promise<void>[];

  constructor(port: number) {
    this.#loops = Array.from({ length: clients }, () => this.#loop(port));
  }

  async stop(): Promise<void> {
    this.#isStopping = true;
    await Promise.all(this.#loops);
  }

  async #loop(port: number): Promise<void> {
    let connectErrorsInARow = 0;
    for (
      let sessions = 0;
      sessions < maxSessionsPerLoop && !this.#isStopping && connectErrorsInARow < 3;
      sessions += 1
    ) {
      let connection: EchoConnection;
      try {
        connection = await EchoConnection.open(port, hangMs);
        connectErrorsInARow = 0;
      } catch (error) {
        this.failures.push(`connect: ${errorCode(error)}`);
        connectErrorsInARow += 1;
        continue;
      }
      await this.#session(connection);
    }
  }

  async #session(connection: EchoConnection): Promise<void> {
    const session: Session = { connection, echoedLines: 0, heldByKilledWorker: false };
    const content = new LineContent(this.#sessionIds++ % 1_000_000, lineBytes);
    this.live.set(connection.localPort, session);
    try {
      for (let line = 0; line < linesPerSession; line += 1) {
        connection.send(content.lines(line, 1));
        await connection.echoed(hangMs);
        session.echoedLines += 1;
        this.linesEchoed += 1;
        this.progress.notify();
      }
      connection.socket.end();
      await connection.ended(hangMs); // every byte is back: however it closes, nothing was lost
      this.completed += 1;
    } catch (error) {
      this.#classify(session, errorCode(error));
    } finally {
      this.live.delete(connection.localPort);
      connection.socket.destroy();
    }
  }

  #classify(session: Session, code: string): void {
    const { connection } = session;
    const where = `session of port ${connection.localPort} after ${session.echoedLines} lines`;
    if (connection.mismatch !== undefined) this.failures.push(`${where}: wrong echo: ${connection.mismatch}`);
    else if (connection.ending === undefined) this.failures.push(`${where}: hung (${code})`);
    else if (session.heldByKilledWorker) this.lostWithKilledWorker += 1;
    else if (session.echoedLines === 0 && performance.now() - this.lastKillAt < handoffWindowMs) {
      this.lostInHandoff += 1;
    } else this.failures.push(`${where}: lost (${connection.ending}) on a worker not killed`);
  }
}

/**
 * Kills one worker, preferring one that holds a client connection, and marks the sessions it held;
 * the pid, and how many it held. A worker that exits between the listing and the kill (ESRCH) is
 * not counted: another is picked (10 tries at most).
 */
function killOneWorker(server: SoakServer, loops: EchoLoops, turn: number): { pid: number; held: number } {
  for (let tries = 0; tries < 10; tries += 1) {
    const peers = peerPortsByInode(server.port);
    const workers = server.workerPids().map((pid) => {
      const ports = [...socketInodesOf(pid)].flatMap((inode) => {
        const port = peers.get(inode);
        return port !== undefined && loops.live.has(port) ? [port] : [];
      });
      return { pid, ports };
    });
    const busy = workers.filter((worker) => worker.ports.length > 0);
    const candidates = busy.length > 0 ? busy : workers;
    const victim = candidates[turn % Math.max(1, candidates.length)];
    if (victim === undefined) continue;
    const sessions = victim.ports.flatMap((port) => loops.live.get(port) ?? []);
    for (const session of sessions) session.heldByKilledWorker = true;
    try {
      process.kill(victim.pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      for (const session of sessions) session.heldByKilledWorker = false; // it had exited by itself
      continue;
    }
    loops.lastKillAt = performance.now();
    return { pid: victim.pid, held: victim.ports.length };
  }
  throw new Error('no live worker process to kill in 10 tries');
}

export const workerKills: Scenario = {
  id: 'worker-kills',
  label: (sizes) => `worker-kills-${count(sizes.kills)}`,
  held:
    'while 8 clients run echo loops (sessions of 50 lines on a fresh connection), N worker processes ' +
    'are SIGKILLed one at a time; the connections each killed worker held are lost by design ' +
    '(counted), every other session gets every byte back, no connection hangs, a process pool ' +
    'replaces each worker, and afterwards 20 fresh clients are served within the bound plus 5 s ' +
    '(workers that die young make a pool back off, up to 5 s, before it starts more)',
  notApplicable: (strategy) =>
    strategy.hasWorkerProcesses ? undefined : 'no worker processes to kill (threads or none)',

  async run({ strategy, sizes, startServer }) {
    const server = await startServer({ metrics: true });
    const isPool = strategy.id === 'process-pool';
    if (isPool) {
      await pollUntil(() => server.workerPids().length >= 1, 30_000, 50, 'the first worker process');
    }
    const loops = new EchoLoops(server.port);
    const startedAt = performance.now();
    let kills = 0;
    let heldByVictims = 0;
    try {
      for (; kills < sizes.kills; kills += 1) {
        const target = loops.linesEchoed + 5;
        await loops.progress.until(
          () => loops.linesEchoed >= target,
          progressWithinMs + startBackOffMs,
          `echoes before kill ${kills + 1}`,
        );
        const before = server.workerPids().length;
        const victim = killOneWorker(server, loops, kills);
        heldByVictims += victim.held;
        if (isPool) {
          // The pool replaces it: wait for the worker count to come back without the victim.
          await pollUntil(
            () => {
              const workers = server.workerPids();
              return !workers.includes(victim.pid) && workers.length >= before;
            },
            progressWithinMs + startBackOffMs,
            20,
            `a replacement for worker ${victim.pid} (kill ${kills + 1})`,
          );
        }
      }
    } finally {
      await loops.stop();
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const fresh = await freshClients(server.port, sizes.freshClients, sizes.freshBoundMs + startBackOffMs);
    const metrics = await server.metrics();
    const restarts = metrics.get('socketserver_worker_restarts_total') ?? Number.NaN;
    const failures = [...loops.failures.slice(0, 5), ...fresh.failures.slice(0, 3)];
    if (loops.failures.length > 5)
      failures.push(
        `… ${loops.failures.length} in all: ${describeCounts(loops.failures.map((text) => text.replace(/port \d+ after \d+/, 'port P after N')))}`,
      );
    const maxFreshMs = fresh.latenciesMs.length === 0 ? Number.NaN : Math.max(...fresh.latenciesMs);
    return {
      figure:
        `${kills} workers SIGKILLed in ${seconds.toFixed(1)} s under ${clients} echo loops: ${loops.completed} sessions ` +
        `byte-exact, ${loops.lostWithKilledWorker} lost with their killed worker, ${loops.lostInHandoff} lost in hand-off, ` +
        `${loops.failures.length} other failures; ${restarts} worker restarts; ` +
        `${fresh.latenciesMs.length}/${sizes.freshClients} fresh clients, max ${ms(maxFreshMs)}`,
      metrics: {
        kills,
        seconds: Math.round(seconds * 10) / 10,
        sessionsCompleted: loops.completed,
        linesEchoed: loops.linesEchoed,
        lostWithKilledWorker: loops.lostWithKilledWorker,
        connectionsHeldByVictims: heldByVictims,
        lostInHandoff: loops.lostInHandoff,
        otherFailures: loops.failures.length,
        workerRestarts: restarts,
        freshServed: fresh.latenciesMs.length,
        freshMaxMs: Math.round(maxFreshMs * 100) / 100,
      },
      failures,
    };
  },
};
