export { TCPServer, describeError } from './tcp-server.js';
export type {
  ServerAddress,
  TCPServerOptions,
  TCPServerEvents,
  DropEvent,
  ConnectionStateEvent,
} from './tcp-server.js';
export type { ConcurrencyStrategy, StrategyContext, RequestSettings } from './strategy.js';
export { serveRequest, serveRequestHandler, endRequest } from './serve-request.js';
export type { RequestSteps, EndingSteps } from './serve-request.js';
export { InThreadStrategy } from './in-thread-strategy.js';
export { serialStrategy } from './serial-strategy.js';
export { eventLoopStrategy } from './event-loop-strategy.js';
export {
  runRequestHandler,
  startRequestHandler,
  finishRequestHandler,
  locateRequestHandler,
  loadRequestHandler,
} from './request-handler.js';
export type {
  RequestHandler,
  RequestHandlerClass,
  HandlerServer,
  HandlerLocation,
} from './request-handler.js';
export { ConnectionRegistry } from './connection-registry.js';
export type { Connection, ConnectionState } from './connection-registry.js';
export { clientAddressOf, formatClientAddress } from './client-address.js';
export type { ClientAddress } from './client-address.js';
export {
  SocketServerError,
  BindError,
  InvalidOptionError,
  UnsupportedOptionError,
  ServerStateError,
  ServerClosedError,
  LineTooLongError,
  IdleTimeoutError,
  ConnectionClosedError,
} from './errors.js';
export type { SocketServerErrorCode } from './errors.js';
export {
  requireInteger,
  requireBoolean,
  requireDelayMs,
  requireTimeoutMs,
  maxDelayMs,
} from './option-validators.js';
