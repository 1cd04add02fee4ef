export { BaseServer, describeError } from './base-server.js';
export type { BaseServerOptions, ServerCounters, ServerStats } from './base-server.js';
export { StreamServer } from './stream-server.js';
export type {
  StreamServerOptions,
  StreamServerEvents,
  TCPServerEvents,
  AcceptedSocketOptions,
  DropEvent,
  ConnectionStateEvent,
} from './stream-server.js';
export { TCPServer } from './tcp-server.js';
export type { TCPServerOptions } from './tcp-server.js';
export { UnixStreamServer } from './unix-stream-server.js';
export type { UnixStreamServerOptions } from './unix-stream-server.js';
export { DatagramServer } from './datagram-server.js';
export type {
  DatagramServerOptions,
  DatagramServerEvents,
  DatagramTransport,
  DatagramReceiver,
  QueuedDatagram,
} from './datagram-server.js';
export { UDPServer } from './udp-server.js';
export type { UDPServerOptions } from './udp-server.js';
export { UnixDatagramServer } from './unix-datagram-server.js';
export type { UnixDatagramServerOptions } from './unix-datagram-server.js';
export type { DatagramAddress, DatagramRequest, DatagramSocket } from './datagram-socket.js';
export {
  validateServerAddress,
  validateUnixPath,
  isAbstractPath,
  maxUnixPathLength,
  requireAddressFamily,
  bindAddresses,
  hasNoIPv6,
} from './server-address.js';
export type { ServerAddress, AddressFamily } from './server-address.js';
export { probeUnixPath } from './unix-path.js';
export { listenFds, listenFdsStart, notifySystemd } from './systemd.js';
export { resolveTLSOptions, tlsUpgrade } from './tls.js';
export type { TLSOptions, TLSSettings } from './tls.js';
export { connectionSetup } from './connection-setup.js';
export { HandshakeGate } from './handshake-gate.js';
export type {
  ConnectionAcceptedMessage,
  ConnectionRefusedMessage,
  RefusalReason,
  RequestMessage,
} from './diagnostics.js';
export type { HandshakeCap, HandshakeLimits } from './handshake-gate.js';
export type { ConnectionSetup, ReadyConnection } from './connection-setup.js';
export type { InheritedSocket } from './systemd.js';
export type { PathOwner } from './unix-path.js';
export type {
  ConcurrencyStrategy,
  DropReason,
  ListenerSharing,
  RequestSettings,
  SharedListener,
  StrategyContext,
} from './strategy.js';
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
export { clientAddressOf, formatClientAddress, formatUnixPath, unnamedUnixPeer } from './client-address.js';
export type { ClientAddress, InetAddress, UnixAddress } from './client-address.js';
export { printable } from './printable.js';
export {
  SocketServerError,
  BindError,
  DatagramTruncatedError,
  InvalidOptionError,
  UnsupportedOptionError,
  ServerStateError,
  ServerClosedError,
  LineTooLongError,
  IdleTimeoutError,
  ConnectionClosedError,
  AcceptError,
  SendError,
  TLSHandshakeError,
  ProxyProtocolError,
  HandlerNotLocatableError,
  HandlerLoadError,
  WorkerStartError,
  WorkerExitedError,
  WorkerUnresponsiveError,
  describeUnixPath,
} from './errors.js';
export type { SocketServerErrorCode, ProxyProtocolFailure } from './errors.js';
export {
  requireInteger,
  requireBoolean,
  requireDelayMs,
  requireTimeoutMs,
  maxDelayMs,
} from './option-validators.js';
export {
  parseProxyHeader,
  proxyHeaderReader,
  proxyTrustCheck,
  proxyHeaderOf,
  resolveProxyProtocolOptions,
  crc32c,
  defaultProxyTrustedSources,
  defaultMaxProxyHeaderSize,
  maxV1HeaderLength,
} from './proxy-protocol.js';
export type {
  ProxyProtocolVersion,
  ProxyHeader,
  ProxyHeaderTLV,
  ProxyProtocolOptions,
  ProxyProtocolSettings,
} from './proxy-protocol.js';
