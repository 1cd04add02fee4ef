import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BindError, type ServerStats } from '@socketserver/core';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** What serves `/metrics`: its port, and how to stop it. */
export interface MetricsEndpoint {
  /** The port it listens on (on 127.0.0.1). */
  readonly port: number;
  /** Stop serving. */
  close(): Promise<void>;
}

/**
 * Bounds of the metrics endpoint, meant for a scraper now and then: a request's headers must come
 * within 5 s and the whole request within 10 s, an idle keep-alive connection is closed after 5 s,
 * and at most 16 connections are open at once (more are closed at once).
 */
const metricsLimits = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 16,
} as const;

/**
 * Serve a server's `stats()`, and the process's own metrics, in Prometheus's text format at
 * `http://127.0.0.1:PORT/metrics` (prom-client); read at each scrape, so nothing is kept in step.
 * Loopback only: metrics say how loaded the server is, which is not for everyone. Bounded (see
 * `metricsLimits`), and `close()` closes every connection at once: a half-sent request never
 * holds a shutdown.
 */
export async function serveMetrics(source: { stats(): ServerStats }, port: number): Promise<MetricsEndpoint> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const stats = (): ServerStats => source.stats();
  const counter = (name: string, help: string, read: (s: ServerStats) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect(this: Counter) {
        this.reset();
        this.inc(read(stats()));
      },
    });
  };
  const gauge = (name: string, help: string, read: (s: ServerStats) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect(this: Gauge) {
        this.set(read(stats()));
      },
    });
  };
  counter(
    'socketserver_requests_accepted_total',
    'Connections accepted, or datagrams received.',
    (s) => s.accepted,
  );
  gauge('socketserver_requests_active', 'Requests being served.', (s) => s.active);
  gauge(
    'socketserver_requests_waiting',
    'Requests waiting for a free slot of the strategy.',
    (s) => s.waiting,
  );
  new Counter({
    name: 'socketserver_requests_refused_total',
    help: 'Requests refused, by reason: verifyRequest, maxConnections, requestQueueSize, proxyProtocol, handshakes.',
    labelNames: ['reason'],
    registers: [registry],
    collect(this: Counter<'reason'>) {
      this.reset();
      for (const [reason, count] of Object.entries(stats().refused)) this.inc({ reason }, count);
    },
  });
  counter('socketserver_received_bytes_total', 'Bytes received from clients.', (s) => s.bytesIn);
  counter('socketserver_sent_bytes_total', 'Bytes sent to clients.', (s) => s.bytesOut);
  counter('socketserver_handler_errors_total', 'Failures reported to handleError.', (s) => s.handlerErrors);
  counter(
    'socketserver_accept_errors_total',
    'Connections the listening socket failed to accept; the server listened on.',
    (s) => s.acceptErrors,
  );
  counter(
    'socketserver_truncated_datagrams_total',
    'Datagrams longer than maxPacketSize, cut to it before their handler got them.',
    (s) => s.truncatedDatagrams,
  );
  counter(
    'socketserver_worker_restarts_total',
    'Workers that died and were replaced.',
    (s) => s.workerRestarts,
  );
  gauge('socketserver_draining', '1 while a shutdown drains the running requests.', (s) =>
    s.draining ? 1 : 0,
  );

  const http = createServer(
    {
      headersTimeout: metricsLimits.headersTimeoutMs,
      requestTimeout: metricsLimits.requestTimeoutMs,
      keepAliveTimeout: metricsLimits.keepAliveTimeoutMs,
    },
    (request, response) => {
      if (request.method !== 'GET' || request.url !== '/metrics') {
        response.writeHead(404).end('Not found: the metrics are at /metrics\n');
        return;
      }
      registry.metrics().then(
        (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(`${String(error)}\n`),
      );
    },
  );
  http.maxConnections = metricsLimits.maxConnections;
  await listen(http, port);
  return {
    port: (http.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

function listen(http: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once('error', (error: NodeJS.ErrnoException) => reject(new BindError(['127.0.0.1', port], error)));
    http.listen(port, '127.0.0.1', () => resolve());
  });
}
