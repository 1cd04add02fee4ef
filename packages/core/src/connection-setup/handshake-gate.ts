import type { ClientAddress } from '../support/client-address.js';
import { requireInteger } from '../support/option-validators.js';

/** Why the gate turned a connection away: too many in handshake in all, or from its source. */
export type HandshakeCap = 'maxHandshakes' | 'maxHandshakesPerSource';

/**
 * The caps on connections in handshake (accepted, their PROXY header or TLS handshake not over),
 * checked: `Infinity` where there is none.
 */
export interface HandshakeLimits {
  /** Connections in handshake at once, in all. */
  readonly maxHandshakes: number;
  /** Connections in handshake at once from one source: an IPv4 address, or an IPv6 /64 network. */
  readonly maxHandshakesPerSource: number;
}

/** The default of `maxHandshakes`: bounds what silent peers cost when nothing else does. */
export const defaultMaxHandshakes = 1024;

/** The caps of a server's options, checked; `perSource: false` when peers are proxies (PROXY protocol). */
export function resolveHandshakeLimits(options: {
  readonly maxHandshakes?: number | undefined;
  readonly maxHandshakesPerSource?: number | undefined;
}): HandshakeLimits {
  const { maxHandshakes, maxHandshakesPerSource } = options;
  return {
    maxHandshakes:
      maxHandshakes === undefined ? defaultMaxHandshakes : requireInteger('maxHandshakes', maxHandshakes, 1),
    maxHandshakesPerSource:
      maxHandshakesPerSource === undefined
        ? Number.POSITIVE_INFINITY
        : requireInteger('maxHandshakesPerSource', maxHandshakesPerSource, 1),
  };
}

/**
 * Counts the connections in handshake, in all and per source, and turns one away beyond a cap:
 * a peer that connects and never finishes its TLS handshake or PROXY header holds a slot, a
 * worker, a thread or a process until the handshake times out, so how many may do that at once is
 * bounded, and one source cannot take them all. Every {@link HandshakeGate.admit}ted peer is
 * {@link HandshakeGate.release}d once, when its handshake ends or its connection does.
 */
export class HandshakeGate {
  readonly #limits: HandshakeLimits;
  /** Whether the per-source cap applies: not to a PROXY server's peers, which are its proxies. */
  readonly #perSource: boolean;
  readonly #bySource = new Map<string, number>();
  #count = 0;

  constructor(limits: HandshakeLimits, { perSource }: { readonly perSource: boolean }) {
    this.#limits = limits;
    this.#perSource = perSource && Number.isFinite(limits.maxHandshakesPerSource);
  }

  /** Connections in handshake now. */
  get size(): number {
    return this.#count;
  }

  /** Count `peer`'s connection in, or say which cap it would pass (then nothing is counted). */
  admit(peer: ClientAddress): HandshakeCap | undefined {
    if (this.#count >= this.#limits.maxHandshakes) return 'maxHandshakes';
    if (this.#perSource) {
      const source = sourceOf(peer);
      if (source !== undefined) {
        const count = this.#bySource.get(source) ?? 0;
        if (count >= this.#limits.maxHandshakesPerSource) return 'maxHandshakesPerSource';
        this.#bySource.set(source, count + 1);
      }
    }
    this.#count += 1;
    return undefined;
  }

  /** An admitted connection's handshake is over (done, failed, or the connection closed). */
  release(peer: ClientAddress): void {
    this.#count -= 1;
    if (!this.#perSource) return;
    const source = sourceOf(peer);
    if (source === undefined) return;
    const count = (this.#bySource.get(source) ?? 1) - 1;
    if (count > 0) this.#bySource.set(source, count);
    else this.#bySource.delete(source);
  }
}

/**
 * The source a per-source cap counts: an IPv4 address, or an IPv6 address's /64 network, which
 * one host usually owns whole; `undefined` for a Unix peer, which has no address.
 */
export function sourceOf(peer: ClientAddress): string | undefined {
  if (peer.family === 'Unix') return undefined;
  return peer.family === 'IPv4' ? peer.host : ipv6Network64(peer.host);
}

/** The first four groups of an IPv6 address, expanded (`2001:db8::1` → `2001:db8:0:0::/64`). */
function ipv6Network64(host: string): string {
  const address = host.split('%')[0] ?? host; // no zone index
  const [head = '', tail] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = Array.from({ length: Math.max(0, 8 - headGroups.length - tailGroups.length) }, () => '0');
  const groups = tail === undefined ? headGroups : [...headGroups, ...zeros, ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
