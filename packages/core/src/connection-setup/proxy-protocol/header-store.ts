/** The PROXY header a connection started with, kept on its socket for the handler. */
import type { Socket } from 'node:net';
import type { ProxyHeader } from './parser.js';

/** Where a socket keeps its PROXY header: a registered symbol, the same for every copy of this module. */
const proxyHeaderKey = Symbol.for('@socketserver/core.proxyHeader');

/** Remember `header` as the PROXY header of `socket` (and of a TLS socket made over it). */
export function recordProxyHeader(socket: Socket, header: ProxyHeader): void {
  (socket as Socket & { [proxyHeaderKey]?: ProxyHeader })[proxyHeaderKey] = header;
}

/**
 * The PROXY header a connection started with, for a handler that wants more than `clientAddress`:
 * the address the client connected to (`destination`), the v2 TLVs (ALPN, authority, unique id,
 * SSL details...). Takes the handler's `request` (a TLS socket too); `undefined` for a server
 * without `proxyProtocol`.
 */
export function proxyHeaderOf(socket: Socket): ProxyHeader | undefined {
  return (socket as Socket & { [proxyHeaderKey]?: ProxyHeader })[proxyHeaderKey];
}
