// The two request pipelines behave the same: serveRequestHandler (the fused one, what the server
// runs in place and workers run) is serveRequest with finishRequest = runRequestHandler, in fewer
// promises. Every combination of handler outcomes, and a failing shutdown, gives the same trace.
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientAddress } from '../support/client-address.js';
import { runRequestHandler, type HandlerServer, type RequestHandler } from './request-handler.js';
import { serveRequest, serveRequestHandler, type EndingSteps } from './serve-request.js';

type Outcome = 'ok' | 'throw' | 'reject';
const outcomes: readonly Outcome[] = ['ok', 'throw', 'reject'];

interface Case {
  readonly construct: 'ok' | 'throw';
  readonly setup: Outcome;
  readonly handle: Outcome;
  readonly finish: Outcome;
  readonly shutdown: 'ok' | 'throw';
}

const cases: Case[] = [];
for (const setup of outcomes) {
  for (const handle of outcomes) {
    for (const finish of outcomes) {
      for (const shutdown of ['ok', 'throw'] as const)
        cases.push({ construct: 'ok', setup, handle, finish, shutdown });
    }
  }
}
cases.push({ construct: 'throw', setup: 'ok', handle: 'ok', finish: 'ok', shutdown: 'ok' });

/** Loopback connections: each `accepted()` resolves with the server side of a new one. */
let listener: net.Server;
const clients: Socket[] = [];
beforeAll(async () => {
  listener = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
});
afterAll(() => {
  for (const client of clients) client.destroy();
  listener.close();
});

async function accepted(): Promise<Socket> {
  const { port } = listener.address() as net.AddressInfo;
  const connection = once(listener, 'connection', { signal: AbortSignal.timeout(5000) });
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  client.resume();
  clients.push(client);
  const [socket] = (await connection) as [Socket];
  socket.on('error', () => {});
  return socket;
}

/** What one request did, in order. */
type Trace = string[];

function act(outcome: Outcome, step: string): void | Promise<void> {
  if (outcome === 'throw') throw new Error(`${step} threw`);
  if (outcome === 'reject') return Promise.reject(new Error(`${step} rejected`));
  return undefined;
}

/** A handler class that records its steps in `trace` and ends each as `plan` says. */
function handlerClass(
  plan: Case,
  trace: Trace,
): new (request: Socket, clientAddress: ClientAddress, server: HandlerServer) => RequestHandler {
  return class TracingHandler implements RequestHandler {
    constructor() {
      trace.push('construct');
      if (plan.construct === 'throw') throw new Error('constructor threw');
    }
    setup(): void | Promise<void> {
      trace.push('setup');
      return act(plan.setup, 'setup');
    }
    handle(): void | Promise<void> {
      trace.push('handle');
      return act(plan.handle, 'handle');
    }
    finish(): void | Promise<void> {
      trace.push('finish');
      return act(plan.finish, 'finish');
    }
  };
}

function describeError(error: unknown): string {
  if (error instanceof SuppressedError) {
    return `SuppressedError(${describeError(error.error)}, ${describeError(error.suppressed)})`;
  }
  return error instanceof Error ? error.message : String(error);
}

function endingSteps(plan: Case, trace: Trace): EndingSteps {
  return {
    shutdownRequest: (request) => {
      trace.push('shutdown');
      request.destroy();
      return plan.shutdown === 'throw' ? Promise.reject(new Error('shutdown failed')) : Promise.resolve();
    },
    reportError: (_request, _clientAddress, error) => trace.push(`report ${describeError(error)}`),
  };
}

const clientAddress: ClientAddress = { family: 'IPv4', host: '127.0.0.1', port: 1 };
const server: HandlerServer = { serverAddress: ['127.0.0.1', 0], handlerOptions: {} };

async function throughTemplate(plan: Case): Promise<Trace> {
  const trace: Trace = [];
  const Handler = handlerClass(plan, trace);
  const steps = {
    ...endingSteps(plan, trace),
    finishRequest: (request: Socket, address: ClientAddress) =>
      runRequestHandler(Handler, request, address, server),
  };
  await serveRequest(await accepted(), clientAddress, steps, undefined);
  trace.push('end');
  return trace;
}

async function throughFused(plan: Case): Promise<Trace> {
  const trace: Trace = [];
  const ended = Promise.withResolvers<void>();
  await serveRequestHandler(
    await accepted(),
    clientAddress,
    endingSteps(plan, trace),
    undefined,
    handlerClass(plan, trace),
    server,
    () => {
      trace.push('end');
      ended.resolve();
    },
  );
  await ended.promise;
  return trace;
}

describe('serveRequest and serveRequestHandler', () => {
  it.each(cases.map((plan) => [JSON.stringify(plan), plan] as const))(
    '%s: the same steps',
    async (_name, plan) => {
      const fused = await throughFused(plan);
      expect(fused).toEqual(await throughTemplate(plan));
      expect(fused.at(-1)).toBe('end');
      const fails = Object.values(plan).some((outcome) => outcome !== 'ok');
      expect(
        fused.some((step) => step.startsWith('report ')),
        'a failure is reported',
      ).toBe(fails);
    },
  );
});
