import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { BindError, InvalidOptionError } from './errors.js';
import { printable } from './printable.js';
import { isAbstractPath } from './server-address.js';

/**
 * What is at a Unix socket path that a bind found in use: `stale` (a socket file that no live
 * socket owns: a server that died), `live` (a live socket of any type), `not-socket` (some other
 * file), `gone` (nothing any more).
 */
export type PathOwner = 'stale' | 'live' | 'not-socket' | 'gone';

/** The probe: a connect; its outcome is what the path holds (see {@link probeUnixPath}). */
const probeScript = `
const socket = require('node:net').connect(process.argv[1]);
socket.on('connect', () => { process.stdout.write('live'); process.exit(0); });
socket.on('error', (error) => { process.stdout.write(String(error.code)); process.exit(0); });
`;

/**
 * Who owns a Unix socket path, found by connecting to it, as the only sure test: a refused
 * connection (ECONNREFUSED) means nobody listens, so the file is a stale leftover; a connection,
 * or EPROTOTYPE (a live socket of another type, a datagram one), means a live owner. The connect
 * runs in a short child process because binding is synchronous; it only runs when a bind found
 * the path taken. A live stream server sees one connection that closes at once.
 */
export function probeUnixPath(path: string): PathOwner {
  if (isAbstractPath(path)) return 'live'; // an abstract name goes with its socket: never stale
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return 'gone';
  }
  if (!isSocket) return 'not-socket';
  // Loaded here, not at import: only a bind that found its path taken needs it (5 ms to load).
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const probe = spawnSync(process.execPath, ['-e', probeScript, path], {
    encoding: 'utf8',
    timeout: 5_000,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  if (probe.stdout === 'ECONNREFUSED') return 'stale';
  if (probe.stdout === 'ENOENT') return 'gone';
  return 'live'; // connected, EPROTOTYPE, or no answer: never take a path that may be in use
}

/**
 * Bind with `bind`, and if the path is taken by a stale socket file, remove it and bind again;
 * a live owner, or a file that is not a socket, is a {@link BindError} naming the path.
 */
export function bindUnixPath<Bound>(path: string, bind: () => Bound): Bound {
  try {
    return bind();
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    if (failure.code !== 'EADDRINUSE') throw new BindError(path, failure);
    const owner = probeUnixPath(path);
    if (owner === 'live') throw new BindError(path, failure, 'a live server owns it');
    if (owner === 'not-socket') throw new BindError(path, failure, 'the path exists and is not a socket');
    if (owner === 'stale') unlinkStale(path, failure);
    try {
      return bind();
    } catch (retryError) {
      throw new BindError(path, retryError as NodeJS.ErrnoException);
    }
  }
}

function unlinkStale(path: string, failure: NodeJS.ErrnoException): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new BindError(
      path,
      failure,
      `a stale socket file that cannot be removed: ${printable((error as Error).message)}`,
    );
  }
}

/** A socket file's permission bits checked: an integer 0-0o777. */
export function validateMode(mode: number | undefined, path: string): number | undefined {
  if (mode === undefined) return undefined;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new InvalidOptionError('mode', mode, 'permission bits, an integer 0-0o777 (0o660, for example)');
  }
  if (isAbstractPath(path)) {
    throw new InvalidOptionError('mode', mode.toString(8), 'no mode: an abstract socket has no file');
  }
  return mode;
}

/** Set a socket file's permission bits; a failure is a {@link BindError} naming the path. */
export function applyMode(path: string, mode: number | undefined): void {
  if (mode === undefined) return;
  try {
    chmodSync(path, mode);
  } catch (error) {
    throw new BindError(path, error as NodeJS.ErrnoException, 'setting its mode');
  }
}
