import type { ClientAddress } from '../support/client-address.js';

/**
 * Where a datagram goes: a request's `clientAddress`, a `[host, port]` for UDP, or a Unix socket
 * path for a Unix datagram server.
 */
export type DatagramAddress = ClientAddress | readonly [host: string, port: number] | string;

/**
 * A datagram server's socket as a handler sees it: Python's `socket` of `request = (data, socket)`,
 * through which a handler answers. In a worker thread or process it is a stand-in whose datagrams
 * the server sends through its own socket, so a reply always comes from the server's address.
 */
export interface DatagramSocket {
  /**
   * Send `data` (a string as UTF-8) in one datagram to `address`. Rejects with ERR_SEND_FAILED when
   * it cannot be sent: too long for the socket, an unnamed Unix peer, a closed server.
   */
  sendTo(data: Uint8Array | string, address: DatagramAddress): Promise<void>;
}

/**
 * One request of a datagram server, Python's `(data, socket)`: the datagram received (at most the
 * server's `maxPacketSize` bytes) and the server's socket to answer through.
 */
export type DatagramRequest = readonly [data: Buffer, socket: DatagramSocket];
