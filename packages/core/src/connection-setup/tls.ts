import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { InvalidOptionError, TLSHandshakeError } from '../support/errors.js';
import { requireTimeoutMs } from '../support/option-validators.js';

/** The `tls` option of a stream server: what makes its connections TLS. */
export interface TLSOptions {
  /** The server's private key, PEM. */
  key: string | Buffer;
  /** The server's certificate chain, PEM. */
  cert: string | Buffer;
  /** Certificates to trust for client certificates, PEM. Default: Node's. */
  ca?: string | Buffer | readonly (string | Buffer)[];
  /** Ask clients for a certificate. Default `false`. */
  requestCert?: boolean;
  /** With `requestCert`, refuse a client whose certificate is missing or not trusted. Default `true`. */
  rejectUnauthorized?: boolean;
  /** ALPN protocols the server speaks, most preferred first (`['h2', 'http/1.1']`). Default: none. */
  ALPNProtocols?: readonly string[];
  /**
   * How long a client may take to finish the handshake, from its connection being served, in ms (at
   * most 2^31 - 1); past it the connection is closed and reported (ERR_TLS_HANDSHAKE). `0` turns the
   * timeout off, as 0 does for Node's `socket.setTimeout()` and Go's server timeouts (not Node's
   * `tls.Server`, which takes `handshakeTimeout: 0` as its 120 s default): a client may take as long
   * as it likes (bound it some other way, or one that never sends its ClientHello holds its slot).
   * Default 10 000.
   */
  handshakeTimeoutMs?: number;
}

/**
 * {@link TLSOptions} checked, in a structured-clonable form (PEM strings): what a strategy sends to
 * a worker thread or process with the socket, so the TLS session runs in the worker.
 */
export interface TLSSettings {
  /** The private key, PEM. */
  readonly key: string;
  /** The certificate chain, PEM. */
  readonly cert: string;
  /** Trusted certificates for client certificates, PEM; `undefined`: Node's. */
  readonly ca: readonly string[] | undefined;
  /** See {@link TLSOptions.requestCert}. */
  readonly requestCert: boolean;
  /** See {@link TLSOptions.rejectUnauthorized}. */
  readonly rejectUnauthorized: boolean;
  /** See {@link TLSOptions.ALPNProtocols}. */
  readonly ALPNProtocols: readonly string[] | undefined;
  /** See {@link TLSOptions.handshakeTimeoutMs}; `undefined`: no timeout (the option was 0). */
  readonly handshakeTimeoutMs: number | undefined;
}

/** Check the `tls` option; a key and certificate that do not make a context are ERR_INVALID_OPTION. */
export function resolveTLSOptions(options: TLSOptions): TLSSettings {
  const pem = (name: string, value: unknown): string => {
    if (typeof value === 'string' && value !== '') return value;
    if (Buffer.isBuffer(value) && value.length > 0) return value.toString('utf8');
    throw new InvalidOptionError(`tls.${name}`, typeof value, 'PEM text, a string or a Buffer');
  };
  const { ca } = options;
  const settings: TLSSettings = {
    key: pem('key', options.key),
    cert: pem('cert', options.cert),
    ca:
      ca === undefined ? undefined : (Array.isArray(ca) ? ca : [ca]).map((item: unknown) => pem('ca', item)),
    requestCert: options.requestCert ?? false,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    ALPNProtocols: options.ALPNProtocols === undefined ? undefined : [...options.ALPNProtocols],
    handshakeTimeoutMs: requireTimeoutMs('tls.handshakeTimeoutMs', options.handshakeTimeoutMs ?? 10_000),
  };
  createSecureContext(settings); // text that is not PEM fails here, not per connection
  checkKeyMatchesCertificate(settings);
  return settings;
}

/**
 * OpenSSL refuses a key that does not match its certificate only when both are of one type (an EC
 * key for an RSA certificate passes, then every handshake fails): check the pair itself.
 */
function checkKeyMatchesCertificate({ key, cert }: TLSSettings): void {
  let certificate: X509Certificate;
  let privateKey: KeyObject;
  try {
    certificate = new X509Certificate(cert);
    privateKey = createPrivateKey(key);
  } catch {
    return; // createSecureContext took it, in a form these do not read: leave it to OpenSSL
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    const type = (keyObject: KeyObject): string => (keyObject.asymmetricKeyType ?? 'unknown').toUpperCase();
    throw new InvalidOptionError(
      'tls.key',
      `${type(privateKey)} key`,
      `the private key of tls.cert's ${type(certificate.publicKey)} certificate`,
    );
  }
}

/**
 * What turns an accepted socket into a TLS one, server side: the handshake, bounded by
 * `handshakeTimeoutMs` (unbounded when it is `undefined` or 0). Resolves with the TLS socket once
 * secure (handlers read and write it as any socket); rejects with a {@link TLSHandshakeError}, the
 * raw socket destroyed. One secure context serves every connection.
 */
export function tlsUpgrade(settings: TLSSettings): (socket: Socket) => Promise<TLSSocket> {
  const secureContext = createSecureContext(settings);
  return (socket) => {
    const secure = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext,
      requestCert: settings.requestCert,
      rejectUnauthorized: settings.rejectUnauthorized,
      ...(settings.ALPNProtocols === undefined ? {} : { ALPNProtocols: [...settings.ALPNProtocols] }),
    });
    secure.allowHalfOpen = true;
    const { promise, resolve, reject } = Promise.withResolvers<TLSSocket>();
    const fail = (error: TLSHandshakeError): void => {
      clearTimeout(timer);
      secure.off('secure', onSecure);
      secure.destroy();
      socket.destroy();
      reject(error);
    };
    const onSecure = (): void => {
      if (settings.requestCert) {
        // tls.Server checks a client certificate in JS; a TLSSocket made on its own does not (Node's
        // OpenSSL verify callback accepts every chain): check it here, as tls.Server does.
        const verifyError = (
          secure as TLSSocket & { ssl: { verifyError(): Error | null } }
        ).ssl.verifyError();
        if (verifyError === null && secure.getPeerX509Certificate() !== undefined) {
          secure.authorized = true;
        } else if (settings.rejectUnauthorized) {
          const refusal = verifyError ?? new Error('no client certificate');
          fail(
            new TLSHandshakeError(
              `TLS handshake failed: client certificate refused: ${describeTLSError(refusal)}`,
              {
                cause: refusal,
              },
            ),
          );
          return;
        } else {
          secure.authorizationError = verifyError ?? new Error('no client certificate');
        }
      }
      clearTimeout(timer);
      secure.off('error', onError).off('close', onClose).off('end', onClose);
      // A failure from now on is the handler's to see, on its next read or write.
      secure.on('error', ignoreError);
      resolve(secure);
    };
    const onError = (error: Error): void =>
      fail(new TLSHandshakeError(`TLS handshake failed: ${describeTLSError(error)}`, { cause: error }));
    const onClose = (): void =>
      fail(new TLSHandshakeError('the client closed the connection during the TLS handshake'));
    const { handshakeTimeoutMs } = settings;
    // `undefined` (or 0, in settings made by hand): no timeout.
    const timer = handshakeTimeoutMs
      ? setTimeout(
          () => fail(new TLSHandshakeError(`no TLS handshake within ${handshakeTimeoutMs} ms`)),
          handshakeTimeoutMs,
        )
      : undefined;
    // An EOF before the handshake is over is the end of it: the client cannot send its Finished
    // any more. (The TLS socket allows half-open connections, so it would not close by itself.)
    secure.once('secure', onSecure).once('error', onError).once('close', onClose).once('end', onClose);
    return promise;
  };
}

function createSecureContext(settings: TLSSettings): tls.SecureContext {
  try {
    return tls.createSecureContext({
      key: settings.key,
      cert: settings.cert,
      ...(settings.ca === undefined ? {} : { ca: [...settings.ca] }),
    });
  } catch (error) {
    throw new InvalidOptionError('tls', (error as Error).message, 'a PEM key and the certificate it signs');
  }
}

function ignoreError(): void {}

/** OpenSSL's reason and code (`wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)`), not its multi-line message. */
function describeTLSError(error: Error): string {
  const { reason, code } = error as Error & { reason?: unknown; code?: unknown };
  const text = typeof reason === 'string' && reason !== '' ? reason : (error.message.split('\n')[0] ?? '');
  return typeof code === 'string' ? `${text} (${code})` : text;
}
