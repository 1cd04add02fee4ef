import * as proxyProtocol from 'proxy-protocol-js';

/** A PROXY v1 header naming the client `host:port` (TCP4) and 127.0.0.1:20000, built by proxy-protocol-js. */
export function proxyV1Header(host: string, port: number): Buffer {
  const header = new proxyProtocol.V1ProxyProtocol(
    proxyProtocol.INETProtocol.TCP4,
    new proxyProtocol.Peer(host, port),
    new proxyProtocol.Peer('127.0.0.1', 20000),
  ).build();
  return Buffer.from(header, 'latin1');
}
