import { existsSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { unnamedUnixPeer, type UnixAddress } from '../support/client-address.js';
import type { RequestHandlerClass } from '../request/request-handler.js';
import { InvalidOptionError } from '../support/errors.js';
import { isAbstractPath, validateUnixPath } from '../platform/server-address.js';
import { StreamServer, type StreamServerOptions } from './stream-server.js';
import { bindWithMode, validateMode } from '../platform/unix-path.js';

/** Options of {@link UnixStreamServer}. */
export interface UnixStreamServerOptions extends StreamServerOptions {
  /**
   * The socket file's permission bits: `0o660` lets the group connect, for example. Default:
   * what the umask leaves. Not for an abstract name, which has no file.
   *
   * The file is created with exactly these bits: the process umask is set to `0o777 & ~mode`
   * around the bind and restored in the same synchronous step, so no chmod follows the path
   * afterwards (someone who may write to the directory could swap it for a symlink to another
   * file). The umask is process-wide: a file another thread creates during that bind (a few
   * microseconds) gets it too. A default ACL on the directory may take bits away. In a worker
   * thread, which may not set the umask, the file is bound with the umask's bits, checked to be a
   * socket (`lstat`: a symlink there is a `BindError`) and then chmod-ed, before anyone can
   * connect.
   */
  mode?: number;
}

/**
 * Python's UnixStreamServer: a {@link StreamServer} on a Unix-domain socket path, or on Linux an
 * abstract name (`'\0name'`, no file).
 *
 * - A path taken by a stale socket file (its server died) is removed and reused; a path a live
 *   server owns is a {@link BindError} (ERR_ADDRESS_IN_USE) naming it, and is never taken over.
 *   Whether the owner lives is found by connecting to it.
 * - The socket file is removed when the server closes.
 * - `mode` sets the file's permissions.
 * - A path too long for `sockaddr_un` is an {@link InvalidOptionError} at construction; EACCES on
 *   the directory is a BindError (ERR_PERMISSION_DENIED).
 * - Every peer is `{ family: 'Unix', path: '' }`: Node does not expose a stream peer's name, and a
 *   connecting client almost never has one (Python shows it as `''`).
 *
 * Runs with the in-thread strategies and with child-process ones (forking, a process pool); Node
 * transfers only TCP sockets to worker threads, so thread strategies refuse to start on it.
 */
export class UnixStreamServer extends StreamServer<string> {
  /** The socket file's permission bits; see {@link UnixStreamServerOptions.mode}. */
  readonly mode: number | undefined;

  constructor(path: string, RequestHandlerClass: RequestHandlerClass, options: UnixStreamServerOptions = {}) {
    super(validateUnixPath(path), RequestHandlerClass, options, {
      noDelay: false,
      keepAlive: false,
      keepAliveInitialDelay: 0,
    });
    this.mode = validateMode(options.mode, path);
    if (options.bindAndActivate ?? true) this.bindAndActivate();
  }

  protected override bindSocket(): net.BoundSocket {
    const path = this.serverAddress;
    return bindWithMode(
      path,
      this.mode,
      () => bindPath(path),
      (bound) => bound.close(),
    );
  }

  protected override peerAddress(): UnixAddress {
    return unnamedUnixPeer;
  }

  protected override inheritedAddress(address: net.AddressInfo | string | null): string {
    if (typeof address === 'string') return address;
    // Node does not tell an inherited Unix socket's path: keep the one given (see listenFds).
    if (address === null || typeof address.port !== 'number') return this.serverAddress;
    throw new InvalidOptionError(
      'fd',
      this.inheritedFd,
      'a Unix stream listening socket (this one is TCP: serve it with TCPServer)',
    );
  }
}

/**
 * A bound Unix stream socket. libuv reports a missing directory as EACCES (as Windows would); the
 * error says ENOENT again when the directory is indeed missing, so the message says what to fix.
 */
function bindPath(path: string): net.BoundSocket {
  try {
    // Node 24 binds a path too; @types/node does not list the option yet.
    return new net.BoundSocket({ path } as net.BoundSocketOptions);
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    if (failure.code === 'EACCES' && !isAbstractPath(path) && !existsSync(dirname(path))) {
      failure.code = 'ENOENT';
    }
    throw failure;
  }
}
