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
} from './strategy/strategy.js';
export { InThreadStrategy } from './strategy/in-thread-strategy.js';
export { serveRequest, serveRequestHandler, endRequest } from './request/serve-request.js';
export type { RequestSteps, EndingSteps } from './request/serve-request.js';
export { runRequestHandler, locateRequestHandler, loadRequestHandler } from './request/request-handler.js';
export type { HandlerLocation } from './request/request-handler.js';
export { connectionSetup } from './connection-setup/connection-setup.js';
export type { ConnectionSetup, ReadyConnection } from './connection-setup/connection-setup.js';
export { tlsUpgrade, resolveTLSOptions } from './connection-setup/tls.js';
export { proxyTrustCheck, resolveProxyProtocolOptions } from './connection-setup/proxy-protocol/trust.js';
export { HandshakeGate } from './connection-setup/handshake-gate.js';
export type { HandshakeLimits } from './connection-setup/handshake-gate.js';
export { clientAddressOf } from './support/client-address.js';
export { describeUnixPath } from './support/errors.js';
export {
  requireInteger,
  requireBoolean,
  requireDelayMs,
  requireTimeoutMs,
} from './support/option-validators.js';
