/**
 * The PROXY protocol options of a stream server, checked at construction, and the trust check: who
 * may send a header (`proxyTrustedSources`, `proxyTrustUnix`), and the defaults.
 */
import net from 'node:net';
import type { ClientAddress } from '../../support/client-address.js';
import { InvalidOptionError, ProxyProtocolError } from '../../support/errors.js';
import { requireInteger, requireTimeoutMs } from '../../support/option-validators.js';
import { defaultMaxProxyHeaderSize, v2FixedLength, type ProxyProtocolVersion } from './parser.js';

/** The PROXY protocol options of a stream server, as its constructor takes them. */
export interface ProxyProtocolOptions {
  /** See `StreamServerOptions.proxyProtocol`. */
  proxyProtocol: ProxyProtocolVersion;
  /** See `StreamServerOptions.proxyTrustedSources`. */
  proxyTrustedSources?: readonly string[] | undefined;
  /**
   * Whether a Unix stream peer may send a PROXY header. Default: the `unixDefault` argument of
   * {@link resolveProxyProtocolOptions} (`true`). See `StreamServerOptions.proxyTrustUnix`.
   */
  proxyTrustUnix?: boolean | undefined;
  /**
   * How long a trusted peer may take to send its whole PROXY header, in ms (at most 2^31 - 1); past
   * it the connection is closed and reported (ERR_PROXY_PROTOCOL, reason `'timeout'`). `0` turns the
   * timeout off: a peer may take as long as it likes. Default 10 000. See
   * `StreamServerOptions.proxyHeaderTimeoutMs`.
   */
  proxyHeaderTimeoutMs?: number | undefined;
  /** See `StreamServerOptions.maxProxyHeaderSize`. */
  maxProxyHeaderSize?: number | undefined;
}

/** The PROXY protocol settings of a server, checked. */
export interface ProxyProtocolSettings {
  /** The versions accepted. */
  readonly version: ProxyProtocolVersion;
  /** The trusted sources, as given (addresses and `address/prefix` ranges). */
  readonly trustedSources: readonly string[];
  /** Whether a Unix stream peer may send a header (`proxyTrustUnix`). */
  readonly trustUnix: boolean;
  /** How long a trusted peer may take to send its header, in ms; `undefined`: no timeout (`proxyHeaderTimeoutMs` was 0). */
  readonly headerTimeoutMs: number | undefined;
  /** The longest v2 header taken, in bytes. */
  readonly maxHeaderSize: number;
}

/** Who may send a header when `proxyTrustedSources` is not given: this host's loopback addresses. */
export const defaultProxyTrustedSources: readonly string[] = Object.freeze(['127.0.0.0/8', '::1']);

/**
 * Check the PROXY protocol options; a bad one is ERR_INVALID_OPTION. `unixDefault`: whether a Unix
 * stream peer is trusted when `proxyTrustUnix` is not given (a stream server passes `false` for an
 * abstract name, which no file mode protects).
 */
export function resolveProxyProtocolOptions(
  options: ProxyProtocolOptions,
  unixDefault = true,
): ProxyProtocolSettings {
  const { proxyProtocol, proxyTrustUnix } = options;
  if (proxyProtocol !== 'v1' && proxyProtocol !== 'v2' && proxyProtocol !== 'any') {
    throw new InvalidOptionError('proxyProtocol', String(proxyProtocol), "'v1', 'v2' or 'any'");
  }
  if (proxyTrustUnix !== undefined && typeof proxyTrustUnix !== 'boolean') {
    throw new InvalidOptionError('proxyTrustUnix', String(proxyTrustUnix), 'true or false');
  }
  const trustedSources = [...(options.proxyTrustedSources ?? defaultProxyTrustedSources)];
  proxyTrustList(trustedSources); // a bad entry fails here, at construction
  return {
    version: proxyProtocol,
    trustedSources,
    trustUnix: proxyTrustUnix ?? unixDefault,
    headerTimeoutMs: requireTimeoutMs('proxyHeaderTimeoutMs', options.proxyHeaderTimeoutMs ?? 10_000),
    maxHeaderSize: requireInteger(
      'maxProxyHeaderSize',
      options.maxProxyHeaderSize ?? defaultMaxProxyHeaderSize,
      v2FixedLength + 216,
      v2FixedLength + 0xffff,
    ),
  };
}

/** The trusted sources as a `net.BlockList` (addresses and CIDR ranges, IPv4 and IPv6). */
function proxyTrustList(sources: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const source of sources) {
    const [address = '', prefix, ...rest] = typeof source === 'string' ? source.split('/') : [];
    const family = net.isIPv4(address)
      ? 'ipv4'
      : net.isIPv6(address) && !address.includes('%')
        ? 'ipv6'
        : undefined;
    const bits = prefix === undefined ? undefined : Number(prefix);
    const maxBits = family === 'ipv4' ? 32 : 128;
    if (
      family === undefined ||
      rest.length > 0 ||
      (bits !== undefined && (!/^[0-9]{1,3}$/.test(prefix ?? '') || bits > maxBits))
    ) {
      throw new InvalidOptionError(
        'proxyTrustedSources',
        JSON.stringify(source),
        'IP addresses or ranges (127.0.0.1, 10.0.0.0/8, ::1, fd00::/8)',
      );
    }
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, bits, family);
  }
  return list;
}

/**
 * The trust check of a server's PROXY settings, as it runs at accept (before any slot, thread or
 * process is spent on the connection): for a peer that may not send a header (an IP peer not in
 * `trustedSources`, a Unix peer without `trustUnix`), the {@link ProxyProtocolError} (reason
 * `'untrusted'`) to refuse it with; `undefined` for a trusted one.
 */
export function proxyTrustCheck(
  settings: ProxyProtocolSettings,
): (peer: ClientAddress) => ProxyProtocolError | undefined {
  const trusted = proxyTrustList(settings.trustedSources);
  const { trustUnix } = settings;
  return (peer) => {
    if (peer.family === 'Unix') {
      return trustUnix
        ? undefined
        : new ProxyProtocolError('untrusted', 'a Unix peer is not a trusted proxy (proxyTrustUnix)');
    }
    return trusted.check(peer.host, peer.family === 'IPv4' ? 'ipv4' : 'ipv6')
      ? undefined
      : new ProxyProtocolError('untrusted', `${peer.host} is not a trusted proxy (proxyTrustedSources)`);
  };
}
