import dgram from 'node:dgram';
import net from 'node:net';
import { clientAddressOf, formatUnixPath } from '../support/client-address.js';
import type { DatagramAddress, DatagramRequest } from './datagram-socket.js';
import {
  DatagramServer,
  type DatagramReceiver,
  type DatagramServerOptions,
  type DatagramTransport,
} from './datagram-server.js';
import { BindError, SendError } from '../support/errors.js';
import { printable } from '../support/printable.js';
import type { RequestHandlerClass } from '../request/request-handler.js';
import {
  bindAddresses,
  hasNoIPv6,
  requireAddressFamily,
  validateServerAddress,
  type ServerAddress,
} from '../platform/server-address.js';

/** Options of {@link UDPServer}. */
export interface UDPServerOptions extends DatagramServerOptions {
  /**
   * SO_REUSEADDR. Default `false`, as Python's UDPServer: on a UDP socket it lets another socket
   * bind the same port and take its datagrams.
   */
  allowReuseAddress?: boolean;
  /** SO_REUSEPORT: several sockets share the port, the kernel spreading datagrams. Default `false`. */
  allowReusePort?: boolean;
  /** IPV6_V6ONLY for an IPv6 host (`''` included). Default `false`: dual stack. */
  ipv6Only?: boolean;
  /**
   * For host `''`: `'IPv4'` binds 0.0.0.0 only, `'IPv6'` `::` (dual stack unless `ipv6Only`).
   * Default `undefined`: `::` where the machine has IPv6, else 0.0.0.0.
   */
  addressFamily?: 'IPv4' | 'IPv6' | undefined;
}

/**
 * Python's UDPServer: a {@link DatagramServer} on `[host, port]`. Each datagram is one request,
 * `[data, socket]`, answered with `socket.sendTo(reply, clientAddress)`; the reply leaves from the
 * server's own address. Host `''` is every interface, port 0 a free port (`port` once bound).
 */
export class UDPServer extends DatagramServer<ServerAddress> {
  /** See {@link UDPServerOptions.allowReuseAddress}. Default `false`. */
  static allowReuseAddress = false;
  /** See {@link UDPServerOptions.allowReusePort}. Default `false`. */
  static allowReusePort = false;
  /** See {@link UDPServerOptions.ipv6Only}. */
  static ipv6Only = false;
  /** See {@link UDPServerOptions.addressFamily}. */
  static addressFamily: 'IPv4' | 'IPv6' | undefined = undefined;

  /** See {@link UDPServerOptions.allowReuseAddress}. */
  allowReuseAddress: boolean;
  /** See {@link UDPServerOptions.allowReusePort}. */
  allowReusePort: boolean;
  /** See {@link UDPServerOptions.ipv6Only}. */
  ipv6Only: boolean;
  /** See {@link UDPServerOptions.addressFamily}. */
  addressFamily: 'IPv4' | 'IPv6' | undefined;
  /** Whether the socket is IPv6 (then IPv4 peers are reached through their mapped address). */
  #isIPv6Socket = false;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest>,
    options: UDPServerOptions = {},
  ) {
    super(validateServerAddress(serverAddress), RequestHandlerClass, options);
    const defaults = new.target;
    this.allowReuseAddress = options.allowReuseAddress ?? defaults.allowReuseAddress;
    this.allowReusePort = options.allowReusePort ?? defaults.allowReusePort;
    this.ipv6Only = options.ipv6Only ?? defaults.ipv6Only;
    this.addressFamily = requireAddressFamily(options.addressFamily ?? defaults.addressFamily);
    if (options.bindAndActivate ?? true) this.bindAndActivate();
  }

  /** The real port, known once `serverBind()` has resolved. */
  get port(): number {
    return this.serverAddress[1];
  }

  protected override async bindTransport(receive: DatagramReceiver): Promise<DatagramTransport> {
    const [host, port] = this.serverAddress;
    const { first, fallback } = bindAddresses(host, this.addressFamily, this.ipv6Only);
    let socket: dgram.Socket;
    try {
      try {
        socket = await this.#bind(first, port);
      } catch (error) {
        if (fallback === undefined || !hasNoIPv6(error)) throw error;
        socket = await this.#bind(fallback, port);
      }
    } catch (error) {
      throw new BindError([host, port], error as NodeJS.ErrnoException);
    }
    this.#isIPv6Socket = socket.address().family === 'IPv6';
    this.serverAddress = [host, socket.address().port];
    socket.on('message', (data, peer) => {
      const clientAddress = clientAddressOf({
        remoteAddress: peer.address,
        remotePort: peer.port,
        remoteFamily: peer.family,
      });
      if (clientAddress !== undefined) receive(data, clientAddress);
    });
    socket.on('error', (error) => this.reportServerError(error));
    return {
      send: (data, destination) => {
        const [toHost, toPort] = destination as readonly [string, number];
        const { promise, resolve, reject } = Promise.withResolvers<void>();
        socket.send(data, toPort, toHost, (error) => {
          if (error)
            reject(
              new SendError(`cannot send to ${toHost} port ${toPort}: ${printable(error.message)}`, {
                cause: error,
              }),
            );
          else resolve();
        });
        return promise;
      },
      close: () => socket.close(),
    };
  }

  protected override resolveDestination(address: DatagramAddress): readonly [string, number] | SendError {
    let host: string;
    let port: number;
    if (typeof address === 'string') {
      return new SendError(`cannot send to ${formatUnixPath(address)}: a UDP server sends to [host, port]`);
    } else if (Array.isArray(address)) {
      [host, port] = address as readonly [string, number];
    } else if ('host' in address) {
      ({ host, port } = address);
    } else {
      return new SendError('cannot send to a Unix peer from a UDP server');
    }
    if (!Number.isInteger(port) || port < 1 || port > 65_535 || net.isIP(host) === 0) {
      return new SendError(
        `cannot send to ${printable(String(host))} port ${printable(String(port))}: not an IP address and port`,
      );
    }
    // An IPv6 socket reaches an IPv4 peer (as clientAddress shows it) through its mapped address.
    if (this.#isIPv6Socket && net.isIPv4(host)) return [`::ffff:${host}`, port];
    return [host, port];
  }

  #bind(address: string, port: number): Promise<dgram.Socket> {
    const socket = dgram.createSocket({
      type: net.isIPv6(address) ? 'udp6' : 'udp4',
      reuseAddr: this.allowReuseAddress,
      reusePort: this.allowReusePort,
      ipv6Only: this.ipv6Only,
    });
    const { promise, resolve, reject } = Promise.withResolvers<dgram.Socket>();
    const onError = (error: Error): void => {
      socket.close();
      reject(error);
    };
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
    return promise;
  }
}
