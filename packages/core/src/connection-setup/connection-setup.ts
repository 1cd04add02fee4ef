import type { Socket } from 'node:net';
import type { ClientAddress } from '../support/client-address.js';
import { proxyHeaderOf, recordProxyHeader } from './proxy-protocol/header-store.js';
import { proxyHeaderReader } from './proxy-protocol/reader.js';
import type { ProxyProtocolSettings } from './proxy-protocol/trust.js';
import { tlsUpgrade, type TLSSettings } from './tls.js';

/** A connection once set up: the socket its handler gets (TLS or raw), and its client. */
export interface ReadyConnection {
  /** The socket to serve: the TLS socket with `tls`, otherwise the accepted one. */
  readonly socket: Socket;
  /** The original client named by a PROXY header, otherwise the connection's peer. */
  readonly clientAddress: ClientAddress;
}

/**
 * What runs on an accepted connection before its handler, where the request runs (this thread, or
 * a worker): rejects with the failure (ERR_PROXY_PROTOCOL, ERR_TLS_HANDSHAKE), the socket destroyed.
 */
export type ConnectionSetup = (socket: Socket, peer: ClientAddress) => Promise<ReadyConnection>;

/**
 * The set-up of a server's connections: its PROXY header (`proxyProtocol`), then the TLS handshake
 * (`tls`), in that order, as a load balancer sends them; `undefined` when there is nothing to do.
 */
export function connectionSetup(settings: {
  readonly tls?: TLSSettings | undefined;
  readonly proxyProtocol?: ProxyProtocolSettings | undefined;
}): ConnectionSetup | undefined {
  const readHeader =
    settings.proxyProtocol === undefined ? undefined : proxyHeaderReader(settings.proxyProtocol);
  const secure = settings.tls === undefined ? undefined : tlsUpgrade(settings.tls);
  if (readHeader === undefined && secure === undefined) return undefined;
  return async (socket, peer) => {
    const clientAddress = readHeader === undefined ? peer : await readHeader(socket, peer);
    if (secure === undefined) return { socket, clientAddress };
    const secureSocket = await secure(socket);
    const header = proxyHeaderOf(socket);
    if (header !== undefined) recordProxyHeader(secureSocket, header);
    return { socket: secureSocket, clientAddress };
  };
}
