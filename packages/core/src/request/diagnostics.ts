// Instrumentation through node:diagnostics_channel, as undici and node:http publish theirs: an APM
// tool (OpenTelemetry's, or any `diagnostics_channel.subscribe`) traces servers without code
// changes. Nothing is built or published while nobody subscribes: each site checks
// `hasSubscribers` first. The channel names and payloads are documented in the core README.
import diagnosticsChannel, { type Channel, type TracingChannel } from 'node:diagnostics_channel';
import type { ClientAddress } from '../support/client-address.js';
import type { HandlerServer, RequestHandlerClass } from './request-handler.js';
import type { DropReason } from '../strategy/strategy.js';

/** `socketserver:connection:accepted`: a stream server accepted a connection (see {@link ConnectionAcceptedMessage}). */
export const connectionAcceptedChannel: Channel = diagnosticsChannel.channel(
  'socketserver:connection:accepted',
);

/** `socketserver:connection:refused`: a stream server closed a connection unserved (see {@link ConnectionRefusedMessage}). */
export const connectionRefusedChannel: Channel = diagnosticsChannel.channel(
  'socketserver:connection:refused',
);

/**
 * `socketserver:request`, a TracingChannel around each request's handler (`setup`, `handle`,
 * `finish`): `tracing:socketserver:request:start`, `:end`, `:asyncStart`, `:asyncEnd` and `:error`
 * (see {@link RequestMessage}). Published in the thread or process that runs the handler.
 */
export const requestChannel: TracingChannel<unknown, RequestMessage> = diagnosticsChannel.tracingChannel<
  unknown,
  RequestMessage
>('socketserver:request');

/** What `socketserver:connection:accepted` carries. */
export interface ConnectionAcceptedMessage {
  /** The server that accepted it. */
  readonly server: object;
  /** Its peer. */
  readonly clientAddress: ClientAddress;
  /** The accepted socket; `undefined` when a strategy's worker accepted it (it is in that worker). */
  readonly socket: object | undefined;
}

/** Why a connection was refused: a cap (see `DropReason`), `verifyRequest`, or an untrusted PROXY peer. */
export type RefusalReason = DropReason | 'verifyRequest' | 'proxyProtocol';

/** What `socketserver:connection:refused` carries. */
export interface ConnectionRefusedMessage {
  /** The server that refused it. */
  readonly server: object;
  /** Its peer. */
  readonly clientAddress: ClientAddress;
  /** Why. */
  readonly reason: RefusalReason;
}

/** The context of `socketserver:request`'s events; `:error` adds `error`. */
export interface RequestMessage {
  /** The request: a connected socket, or `[data, socket]` for a datagram. */
  readonly request: unknown;
  /** Its peer. */
  readonly clientAddress: ClientAddress;
  /** The server as the handler sees it: `serverAddress`, `handlerOptions` (the server itself in its thread). */
  readonly server: HandlerServer;
  /** The handler class. */
  readonly RequestHandlerClass: RequestHandlerClass<never>;
  /** What the handler threw or rejected with (`:error` only). */
  error?: unknown;
}

/** Publish an accepted connection, if anyone listens. */
export function publishAccepted(
  server: object,
  clientAddress: ClientAddress,
  socket: object | undefined,
): void {
  if (connectionAcceptedChannel.hasSubscribers) {
    connectionAcceptedChannel.publish({ server, clientAddress, socket } satisfies ConnectionAcceptedMessage);
  }
}

/** Publish a refused connection, if anyone listens. */
export function publishRefused(server: object, clientAddress: ClientAddress, reason: RefusalReason): void {
  if (connectionRefusedChannel.hasSubscribers) {
    connectionRefusedChannel.publish({ server, clientAddress, reason } satisfies ConnectionRefusedMessage);
  }
}
