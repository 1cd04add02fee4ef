import net from 'node:net';
import type { Socket } from 'node:net';
import { clientAddressOf, type InetAddress } from '../support/client-address.js';
import {
  BindError,
  InvalidOptionError,
  ServerStateError,
  UnsupportedOptionError,
} from '../support/errors.js';
import { requireDelayMs } from '../support/option-validators.js';
import type { RequestHandlerClass } from '../request/request-handler.js';
import {
  bindAddresses,
  hasNoIPv6,
  requireAddressFamily,
  validateServerAddress,
  type AddressFamily,
  type ServerAddress,
} from '../platform/server-address.js';
import { StreamServer, type StreamServerOptions } from './stream-server.js';

/** Options of {@link TCPServer}. Unset ones take the class defaults (the static fields). */
export interface TCPServerOptions extends StreamServerOptions {
  /** SO_REUSEADDR. Default: the platform's (see {@link TCPServer.allowReuseAddress}). */
  allowReuseAddress?: boolean;
  /** SO_REUSEPORT: several listeners share the port. Default `false`. */
  allowReusePort?: boolean;
  /** IPV6_V6ONLY for an IPv6 host (`''` included). Default `false`: dual stack. */
  ipv6Only?: boolean;
  /**
   * Python's `address_family`, for host `''`: `'IPv4'` listens on 0.0.0.0 only, `'IPv6'` on `::`
   * (dual stack unless `ipv6Only`). Default `undefined`: `::` where the machine has IPv6, else 0.0.0.0.
   * A numeric host decides its own family.
   */
  addressFamily?: 'IPv4' | 'IPv6' | undefined;
  /** TCP_NODELAY on accepted sockets. Default `true`. */
  noDelay?: boolean;
  /** SO_KEEPALIVE on accepted sockets. Default `false`. */
  keepAlive?: boolean;
  /** Idle time before the first keep-alive probe, in ms. Default 0: the system's. */
  keepAliveInitialDelayMs?: number;
}

/**
 * Python's TCPServer: a {@link StreamServer} on `[host, port]`. Host `''` is every interface
 * (IPv6 and IPv4 on one socket where the machine has IPv6), port 0 a free port, known as
 * `port` right after `serverBind()`.
 *
 * For callers: `serveForever()`, `handleRequest()`, `shutdown()`, `serverClose()`,
 * `[Symbol.asyncDispose]()`, and with `bindAndActivate: false`, `setSocketOption()`, then
 * `serverBind()` and `serverActivate()`.
 *
 * To override: `serverBind`, `serverActivate`, `verifyRequest`, `processRequest`,
 * `finishRequest`, `shutdownRequest`, `closeRequest`, `handleError`, `handleTimeout`,
 * `serviceActions`. Concurrency is not overridden here but chosen with a strategy.
 */
export class TCPServer extends StreamServer<ServerAddress> {
  /**
   * SO_REUSEADDR, the recipe's `allow_reuse_address`. On Unix, libuv sets it on every TCP
   * listener, so the default there is `true` and `false` cannot be honoured (serverBind throws
   * ERR_UNSUPPORTED_OPTION); on Windows it is never set, so the default is `false`.
   */
  static allowReuseAddress: boolean = process.platform !== 'win32';
  /** SO_REUSEPORT. Default `false`. */
  static allowReusePort = false;
  /** See {@link TCPServerOptions.ipv6Only}. */
  static ipv6Only = false;
  /** See {@link TCPServerOptions.addressFamily}. */
  static addressFamily: 'IPv4' | 'IPv6' | undefined = undefined;

  /** SO_REUSEADDR for the listener. See {@link TCPServerOptions.allowReuseAddress}. */
  allowReuseAddress: boolean;
  /** SO_REUSEPORT for the listener. See {@link TCPServerOptions.allowReusePort}. */
  allowReusePort: boolean;
  /** IPV6_V6ONLY for an IPv6 listener. See {@link TCPServerOptions.ipv6Only}. */
  ipv6Only: boolean;
  /** The family for host `''`. See {@link TCPServerOptions.addressFamily}. */
  addressFamily: 'IPv4' | 'IPv6' | undefined;

  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass,
    options: TCPServerOptions = {},
  ) {
    super(validateServerAddress(serverAddress), RequestHandlerClass, options, {
      noDelay: options.noDelay ?? true,
      keepAlive: options.keepAlive ?? false,
      keepAliveInitialDelay: requireDelayMs('keepAliveInitialDelayMs', options.keepAliveInitialDelayMs ?? 0),
    });
    const defaults = new.target;
    this.allowReuseAddress = options.allowReuseAddress ?? defaults.allowReuseAddress;
    this.allowReusePort = options.allowReusePort ?? defaults.allowReusePort;
    this.ipv6Only = options.ipv6Only ?? defaults.ipv6Only;
    this.addressFamily = requireAddressFamily(options.addressFamily ?? defaults.addressFamily);
    if (options.bindAndActivate ?? true) this.bindAndActivate();
  }

  /** The real port, known right after `serverBind()`. */
  get port(): number {
    return this.serverAddress[1];
  }

  /**
   * Set a listening-socket option before `serverBind()`, the recipe's
   * `serv.socket.setsockopt(SOL_SOCKET, SO_REUSEADDR, True)`.
   */
  setSocketOption(option: 'SO_REUSEADDR' | 'SO_REUSEPORT' | 'IPV6_V6ONLY', value: boolean): void {
    if (this.isBound) {
      throw new ServerStateError(`set ${option} before serverBind(); the socket is already bound`);
    }
    if (option === 'SO_REUSEADDR') this.allowReuseAddress = value;
    else if (option === 'SO_REUSEPORT') this.allowReusePort = value;
    else this.ipv6Only = value;
  }

  protected override bindSocket(): net.BoundSocket {
    checkReuseAddress(this.allowReuseAddress);
    const [host, port] = this.serverAddress;
    // Workers that bind their own sockets to the address need SO_REUSEPORT on this one too.
    const reusePort = this.allowReusePort || this.listenerSharing === 'reusePort';
    const bound = bindListeningSocket(host, port, this.addressFamily, this.ipv6Only, reusePort);
    this.serverAddress = [host, bound.address().port];
    return bound;
  }

  protected override canShareListener(): boolean {
    return true;
  }

  protected override listenerIPv6Only(): boolean {
    return this.ipv6Only;
  }

  protected override peerAddress(socket: Socket): InetAddress | undefined {
    return clientAddressOf(socket);
  }

  protected override inheritedAddress(address: net.AddressInfo | string | null): ServerAddress {
    if (address === null || typeof address === 'string' || typeof address.port !== 'number') {
      throw new InvalidOptionError(
        'fd',
        this.inheritedFd,
        'a TCP listening socket (this one is a Unix socket: serve it with UnixStreamServer)',
      );
    }
    return [address.address, address.port];
  }
}

function bindListeningSocket(
  host: string,
  port: number,
  addressFamily: AddressFamily,
  ipv6Only: boolean,
  reusePort: boolean,
): net.BoundSocket {
  const bindTo = (address: string): net.BoundSocket =>
    new net.BoundSocket({ host: address, port, ipv6Only, reusePort });
  const { first, fallback } = bindAddresses(host, addressFamily, ipv6Only);
  try {
    try {
      return bindTo(first);
    } catch (error) {
      if (fallback === undefined || !hasNoIPv6(error)) throw error;
      return bindTo(fallback);
    }
  } catch (error) {
    throw new BindError([host, port], error as NodeJS.ErrnoException);
  }
}

function checkReuseAddress(allowReuseAddress: boolean): void {
  if (process.platform === 'win32' && allowReuseAddress) {
    throw new UnsupportedOptionError('allowReuseAddress=true', 'libuv never sets SO_REUSEADDR on Windows');
  }
  if (process.platform !== 'win32' && !allowReuseAddress) {
    throw new UnsupportedOptionError(
      'allowReuseAddress=false',
      `libuv sets SO_REUSEADDR on every TCP listener on ${process.platform}`,
    );
  }
}
