import { chmodSync, linkSync, lstatSync, renameSync, unlinkSync, type BigIntStats } from 'node:fs';
import { isMainThread, Worker } from 'node:worker_threads';
import { BindError, describeUnixPath, InvalidOptionError } from '../support/errors.js';
import { printable } from '../support/printable.js';
import { isAbstractPath } from './server-address.js';

/**
 * What is at a Unix socket path that a bind found in use: `stale` (a socket file that no live
 * socket owns: a server that died), `live` (a live socket of any type), `not-socket` (some other
 * file), `gone` (nothing any more).
 */
export type PathOwner = 'stale' | 'live' | 'not-socket' | 'gone';

/** How long a probe may take; a path whose probe does not answer by then counts as live. */
const probeTimeoutMs = 5_000;

/** The probe's answers, in its shared Int32Array (0 while it runs). */
const probeLive = 1;
const probeStale = 2;
const probeGone = 3;

/**
 * The probe, run in a worker thread: a connect; its outcome is what the path holds (see
 * {@link probeUnixPath}). It tells the waiting thread through shared memory, so that thread can
 * block in `Atomics.wait` with no event loop of its own turning.
 */
const probeScript = `'use strict';
const { workerData } = require('node:worker_threads');
const { path, answer } = workerData;
const tell = (code) => {
  Atomics.store(answer, 0, code);
  Atomics.notify(answer, 0);
};
const socket = require('node:net').connect(path);
socket.on('connect', () => {
  tell(${probeLive});
  socket.destroy();
});
socket.on('error', (error) => {
  tell(error.code === 'ECONNREFUSED' ? ${probeStale} : error.code === 'ENOENT' ? ${probeGone} : ${probeLive});
});
`;

/**
 * Who owns a Unix socket path, found by connecting to it, as the only sure test: a refused
 * connection (ECONNREFUSED) means nobody listens, so the file is a stale leftover; a connection,
 * or EPROTOTYPE (a live socket of another type, a datagram one), means a live owner, and so does
 * no answer within 5 seconds: a path that may be in use is never taken. Binding is synchronous,
 * so the connect runs in a short-lived worker thread while this thread waits for its answer
 * (`Atomics.wait`); it only runs when a bind found the path taken. A live stream server sees one
 * connection that closes at once.
 */
export function probeUnixPath(path: string): PathOwner {
  return inspectUnixPath(path).owner;
}

/** What {@link probeUnixPath} found, with the file it found (its `lstat`) when it is a socket. */
interface Inspection {
  readonly owner: PathOwner;
  readonly file?: BigIntStats;
}

function inspectUnixPath(path: string): Inspection {
  if (isAbstractPath(path)) return { owner: 'live' }; // an abstract name goes with its socket: never stale
  // Before the connect: the file the connect then finds stale is this one or a newer one, never
  // an older one (a stale file that a racing server replaced with its own live socket).
  let file: BigIntStats | undefined;
  try {
    file = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    file = undefined;
  }
  if (file === undefined) return { owner: 'gone' };
  if (!file.isSocket()) return { owner: 'not-socket' };
  const answer = connectProbe(path);
  if (answer === probeStale) return { owner: 'stale', file };
  if (answer === probeGone) return { owner: 'gone' };
  return { owner: 'live' }; // connected, EPROTOTYPE, another error, or no answer
}

/** Connect to `path` in a worker thread and wait for the outcome; 0 when none came in time. */
function connectProbe(path: string): number {
  const answer = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  let worker: Worker;
  try {
    worker = new Worker(probeScript, {
      eval: true,
      workerData: { path, answer },
      // None of this process's flags (--import, --require, ...): the probe needs only node:net.
      execArgv: [],
      name: 'socketserver unix path probe',
    });
  } catch {
    return 0; // no thread to probe with: the owner is unknown, so it counts as live
  }
  worker.unref(); // never keeps the process alive
  worker.on('error', () => {}); // an error there is no answer, already counted as live
  Atomics.wait(answer, 0, 0, probeTimeoutMs);
  void worker.terminate(); // done or not: its socket is closed with it
  return Atomics.load(answer, 0);
}

/**
 * Bind with `bind`, and if the path is taken by a stale socket file, remove it and bind again;
 * a live owner, or a file that is not a socket, is a {@link BindError} naming the path. Servers
 * that race for one stale path (started together) leave exactly one bound: the stale file is
 * removed only if it is still the one probed (see `removeStale`), and a second
 * EADDRINUSE is ERR_ADDRESS_IN_USE, never another round.
 */
export function bindUnixPath<Bound>(path: string, bind: () => Bound): Bound {
  try {
    return bind();
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    if (failure.code !== 'EADDRINUSE') throw new BindError(path, failure);
    const { owner, file } = inspectUnixPath(path);
    if (owner === 'live') throw new BindError(path, failure, 'a live server owns it');
    if (owner === 'not-socket') throw new BindError(path, failure, 'the path exists and is not a socket');
    if (owner === 'stale' && file !== undefined) removeStale(path, file, failure);
  }
  try {
    return bind();
  } catch (retryError) {
    const failure = retryError as NodeJS.ErrnoException;
    throw new BindError(
      path,
      failure,
      failure.code === 'EADDRINUSE' ? 'another server bound it first' : undefined,
    );
  }
}

/**
 * Remove the stale socket file `stale` from `path`, only if it is still there: another server
 * may have removed it first and bound its own live socket there. Another file there already is
 * a path in use. No call removes a file only if it is a given one, so the file at `path` is moved
 * aside (rename: atomic) to a name private to this call, then looked at: the stale file is
 * removed; another (the live socket of a server that won the race since the look before) is put
 * back (link: never replaces what may have been bound there meanwhile) and the path is in use.
 * Nothing there any more: another server removed it; the caller binds again.
 *
 * The same file is the same device and inode and the same modification time (which a rename
 * keeps): an inode number freed with the stale file is often given at once to the next file
 * created (ext4 does), the winner's new socket file among them.
 */
function removeStale(path: string, stale: BigIntStats, failure: NodeJS.ErrnoException): void {
  // Most racing servers stop here: the probe took long enough for the first to bind its own.
  let now: BigIntStats | undefined = stale;
  try {
    now = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    // Let the rename say what is wrong.
  }
  if (now === undefined) return;
  if (!isSameFile(now, stale)) throw new BindError(path, failure, 'another server took it over');
  const aside = `${path}.stale-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new BindError(
      path,
      failure,
      `a stale socket file that cannot be removed: ${printable((error as Error).message)}`,
    );
  }
  let moved: BigIntStats | undefined;
  try {
    moved = lstatSync(aside, { bigint: true, throwIfNoEntry: false });
  } catch {
    moved = undefined; // not known to be the stale file: put back
  }
  if (moved !== undefined && isSameFile(moved, stale)) {
    try {
      unlinkSync(aside);
    } catch (error) {
      throw new BindError(
        path,
        failure,
        `a stale socket file, moved to ${describeUnixPath(aside)} to be removed, cannot be removed: ${printable((error as Error).message)}`,
      );
    }
    return;
  }
  try {
    linkSync(aside, path);
  } catch (error) {
    throw new BindError(
      path,
      failure,
      `another server took it over; its file, moved aside in place of the stale one, cannot be put back (${printable((error as Error).message)}) and is at ${describeUnixPath(aside)}`,
    );
  }
  try {
    unlinkSync(aside);
  } catch {
    // Put back at `path` all the same; only a second name for it is left.
  }
  throw new BindError(path, failure, 'another server took it over');
}

function isSameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.birthtimeNs === b.birthtimeNs;
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

/**
 * {@link bindUnixPath}, with the socket file created with the permission bits `mode` (when given).
 *
 * On the main thread, the process umask is set to `0o777 & ~mode` around each bind and restored
 * in the same synchronous block: the bind creates the file with exactly `mode` (a default ACL on
 * the directory may only take bits away), and no chmod follows the path afterwards, which someone
 * able to write to the directory could have swapped for a symlink to a file of ours. The umask is
 * the process's: a file another thread creates during that bind (microseconds) gets it too.
 *
 * A worker thread may not set the umask (ERR_WORKER_UNSUPPORTED_OPTION), so there the file is
 * bound with the umask's bits, then `lstat`-ed: anything but a socket (a symlink swapped in) is a
 * {@link BindError}, with `release(bound)` called; a socket is given `mode` by chmod (which a
 * swap between the two calls could still redirect).
 */
export function bindWithMode<Bound>(
  path: string,
  mode: number | undefined,
  bind: () => Bound,
  release: (bound: Bound) => void,
): Bound {
  if (mode === undefined) return bindUnixPath(path, bind);
  if (isMainThread) return bindUnixPath(path, () => withUmask(0o777 & ~mode, bind));
  const bound = bindUnixPath(path, bind);
  try {
    chmodSocketFile(path, mode);
  } catch (error) {
    release(bound);
    throw error;
  }
  return bound;
}

/** `run()` with the process umask set to `mask`, restored before returning or throwing. */
function withUmask<T>(mask: number, run: () => T): T {
  const previous = process.umask(mask);
  try {
    return run();
  } finally {
    process.umask(previous);
  }
}

/** Give the socket file at `path` the bits `mode`, refusing anything but a socket there. */
function chmodSocketFile(path: string, mode: number): void {
  try {
    if (!lstatSync(path).isSocket()) {
      throw Object.assign(new Error('the path is no longer the socket bound there'), { code: 'ENOTSOCK' });
    }
    chmodSync(path, mode);
  } catch (error) {
    throw new BindError(path, error as NodeJS.ErrnoException, 'setting its mode');
  }
}
