// `@socketserver/core/strategy`: what a concurrency strategy, or a package built on core, needs of
// core's plumbing: the strategy seam, the request pipeline a worker runs, the connection set-up
// (PROXY header, TLS, the handshake caps), handler locations, and the option validators. A server's
// users need none of it: they import `@socketserver/core`.
export type {
  ConcurrencyStrategy,
  ListenerSharing,
  RequestSettings,
  SharedListener,
  StrategyContext,
} from './strategy.js';
export { InThreadStrategy } from './in-thread-strategy.js';
export { serveRequest, serveRequestHandler, endRequest } from './serve-request.js';
export type { RequestSteps, EndingSteps } from './serve-request.js';
export { runRequestHandler, locateRequestHandler, loadRequestHandler } from './request-handler.js';
export type { HandlerLocation } from './request-handler.js';
export { connectionSetup } from './connection-setup.js';
export type { ConnectionSetup, ReadyConnection } from './connection-setup.js';
export { tlsUpgrade, resolveTLSOptions } from './tls.js';
export { proxyTrustCheck, resolveProxyProtocolOptions } from './proxy-protocol.js';
export { HandshakeGate } from './handshake-gate.js';
export type { HandshakeLimits } from './handshake-gate.js';
export { clientAddressOf } from './client-address.js';
export { describeUnixPath } from './errors.js';
export { requireInteger, requireBoolean, requireDelayMs, requireTimeoutMs } from './option-validators.js';
