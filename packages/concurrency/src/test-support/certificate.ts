import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitMs } from './recording-server.js';

/**
 * Make a throw-away RSA key and self-signed certificate (CN=`commonName`, SAN localhost and
 * 127.0.0.1, valid one day) with openssl, as `<name>-key.pem` and `<name>-cert.pem` in `directory`;
 * returns both as PEM text.
 */
export function makeCertificate(
  directory: string,
  name: string,
  commonName = 'localhost',
): { key: string; cert: string } {
  const keyPath = join(directory, `${name}-key.pem`);
  const certPath = join(directory, `${name}-cert.pem`);
  const made = spawnSync(
    '/usr/bin/openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '1',
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { encoding: 'utf8', timeout: waitMs },
  );
  if (made.status !== 0) throw new Error(`openssl could not make a test certificate: ${made.stderr}`);
  return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8') };
}
