// `@socketserver/core`: what a server's users need. The plumbing for strategies and packages built
// on core (the request pipeline, connection set-up, validators) is `@socketserver/core/strategy`.
export { BaseServer } from './servers/base-server.js';
export type { BaseServerOptions, ServerCounters, ServerStats } from './servers/base-server.js';
export { StreamServer } from './servers/stream-server.js';
export type {
  StreamServerOptions,
  StreamServerEvents,
  AcceptedSocketOptions,
  DropEvent,
  ConnectionStateEvent,
} from './servers/stream-server.js';
export { TCPServer } from './servers/tcp-server.js';
export type { TCPServerOptions } from './servers/tcp-server.js';
export { UnixStreamServer } from './servers/unix-stream-server.js';
export type { UnixStreamServerOptions } from './servers/unix-stream-server.js';
export { DatagramServer } from './servers/datagram-server.js';
export type {
  DatagramServerOptions,
  DatagramServerEvents,
  DatagramTransport,
  DatagramReceiver,
  QueuedDatagram,
} from './servers/datagram-server.js';
export { UDPServer } from './servers/udp-server.js';
export type { UDPServerOptions } from './servers/udp-server.js';
export { UnixDatagramServer } from './servers/unix-datagram-server.js';
export type { UnixDatagramServerOptions } from './servers/unix-datagram-server.js';
export type { DatagramAddress, DatagramRequest, DatagramSocket } from './servers/datagram-socket.js';
export type { ServerAddress, AddressFamily } from './platform/server-address.js';
export { listenFds, listenFdsStart, notifySystemd } from './platform/systemd.js';
export type { TLSOptions, TLSSettings } from './connection-setup/tls.js';
export type {
  ConnectionAcceptedMessage,
  ConnectionRefusedMessage,
  RefusalReason,
  RequestMessage,
} from './request/diagnostics.js';
export type { HandshakeCap } from './connection-setup/handshake-gate.js';
export type { InheritedSocket } from './platform/systemd.js';
export type { ConcurrencyStrategy, DropReason } from './strategy/strategy.js';
export { serialStrategy } from './strategy/serial-strategy.js';
export { eventLoopStrategy } from './strategy/event-loop-strategy.js';
export type { RequestHandler, RequestHandlerClass, HandlerServer } from './request/request-handler.js';
export type { Connection, ConnectionState } from './servers/connection-registry.js';
export { formatClientAddress, formatUnixPath } from './support/client-address.js';
export type { ClientAddress, InetAddress, UnixAddress } from './support/client-address.js';
export { printable } from './support/printable.js';
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
} from './support/errors.js';
export type { SocketServerErrorCode, ProxyProtocolFailure } from './support/errors.js';
export { proxyHeaderOf } from './connection-setup/proxy-protocol/header-store.js';
export type {
  ProxyProtocolVersion,
  ProxyHeader,
  ProxyHeaderTLV,
} from './connection-setup/proxy-protocol/parser.js';
export type { ProxyProtocolOptions, ProxyProtocolSettings } from './connection-setup/proxy-protocol/trust.js';
