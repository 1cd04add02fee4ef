/** Reading a connection's PROXY header from its socket, where the request runs. */
import type { Socket } from 'node:net';
import type { ClientAddress } from '../../support/client-address.js';
import { ProxyProtocolError } from '../../support/errors.js';
import { recordProxyHeader } from './header-store.js';
import { parseProxyHeader, type ProxyHeader } from './parser.js';
import { proxyTrustCheck, type ProxyProtocolSettings } from './trust.js';

/**
 * What reads a connection's PROXY header, where its request runs: resolves with the original
 * client (the connection's own peer for `LOCAL`), the header's bytes consumed and any bytes read
 * past it put back (`unshift`) for the handler, and the socket paused again; the whole header is
 * then {@link proxyHeaderOf} the socket. Rejects with a
 * {@link ProxyProtocolError}, the socket destroyed, when the header is malformed, truncated,
 * oversized or late (past `headerTimeoutMs`, if set). Servers refuse an untrusted peer at accept
 * ({@link proxyTrustCheck}); this checks again, as a defence, before reading anything.
 */
export function proxyHeaderReader(
  settings: ProxyProtocolSettings,
): (socket: Socket, peer: ClientAddress) => Promise<ClientAddress> {
  const refusal = proxyTrustCheck(settings);
  return (socket, peer) => {
    const error = refusal(peer);
    if (error !== undefined) {
      socket.destroy();
      return Promise.reject(error);
    }
    return readProxyHeader(socket, peer, settings);
  };
}

function readProxyHeader(
  socket: Socket,
  peer: ClientAddress,
  { version, headerTimeoutMs, maxHeaderSize }: ProxyProtocolSettings,
): Promise<ClientAddress> {
  if (socket.destroyed) {
    // Gone while it waited for a free slot: no 'close' is coming to end the wait.
    return Promise.reject(new ProxyProtocolError('truncated', 'the connection closed before its header'));
  }
  const { promise, resolve, reject } = Promise.withResolvers<ClientAddress>();
  let received: Buffer | undefined;
  const stop = (): void => {
    clearTimeout(timer);
    socket.pause();
    socket.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', onError);
  };
  const fail = (error: ProxyProtocolError): void => {
    stop();
    socket.destroy();
    reject(error);
  };
  const onData = (chunk: Buffer): void => {
    received = received === undefined ? chunk : Buffer.concat([received, chunk]);
    let header: ProxyHeader | undefined;
    try {
      header = parseProxyHeader(received, version, maxHeaderSize);
    } catch (error) {
      fail(error as ProxyProtocolError);
      return;
    }
    if (header === undefined) return;
    stop();
    // Bytes the client sent after the header, read with it: the handler's, first.
    if (received.length > header.length) socket.unshift(received.subarray(header.length));
    recordProxyHeader(socket, header);
    resolve(header.command === 'PROXY' && header.source !== undefined ? header.source : peer);
  };
  const onEnd = (): void =>
    fail(
      new ProxyProtocolError(
        'truncated',
        `the connection ended after ${received?.length ?? 0} bytes, before the end of the header`,
      ),
    );
  const onError = (error: Error): void =>
    fail(
      new ProxyProtocolError(
        'truncated',
        `the connection failed before the end of the header: ${error.message}`,
        { cause: error },
      ),
    );
  // `undefined` (or 0, in settings made by hand): no timeout.
  const timer = headerTimeoutMs
    ? setTimeout(
        () => fail(new ProxyProtocolError('timeout', `no complete header within ${headerTimeoutMs} ms`)),
        headerTimeoutMs,
      )
    : undefined;
  socket.on('data', onData).on('end', onEnd).on('close', onEnd).on('error', onError);
  socket.resume();
  return promise;
}
