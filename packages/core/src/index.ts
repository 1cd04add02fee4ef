// `@socketserver/core`: what a server's users need. The plumbing for strategies and packages built
// on core (the request pipeline, connection set-up, validators) is `@socketserver/core/strategy`.
export { BaseServer } from './base-server.js';
export type { BaseServerOptions, ServerCounters, ServerStats } from './base-server.js';
export { StreamServer } from './stream-server.js';
export type {
  StreamServerOptions,
  StreamServerEvents,
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
export type { ServerAddress, AddressFamily } from './server-address.js';
export { listenFds, listenFdsStart, notifySystemd } from './systemd.js';
export type { TLSOptions, TLSSettings } from './tls.js';
export type {
  ConnectionAcceptedMessage,
  ConnectionRefusedMessage,
  RefusalReason,
  RequestMessage,
} from './diagnostics.js';
export type { HandshakeCap } from './handshake-gate.js';
export type { InheritedSocket } from './systemd.js';
export type { ConcurrencyStrategy, DropReason } from './strategy.js';
export { serialStrategy } from './serial-strategy.js';
export { eventLoopStrategy } from './event-loop-strategy.js';
export type { RequestHandler, RequestHandlerClass, HandlerServer } from './request-handler.js';
export type { Connection, ConnectionState } from './connection-registry.js';
export { formatClientAddress, formatUnixPath } from './client-address.js';
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
} from './errors.js';
export type { SocketServerErrorCode, ProxyProtocolFailure } from './errors.js';
export { proxyHeaderOf } from './proxy-protocol.js';
export type {
  ProxyProtocolVersion,
  ProxyHeader,
  ProxyHeaderTLV,
  ProxyProtocolOptions,
  ProxyProtocolSettings,
} from './proxy-protocol.js';
