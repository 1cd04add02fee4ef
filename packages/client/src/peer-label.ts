/** Names a TCP or UDP peer in messages: `host:port`, or `[host]:port` for an IPv6 address. */
export function hostPortLabel(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Names a Unix socket path in messages: the path itself, or `@name` for a Linux abstract name
 * (a path starting with `'\0'`), as `ss` and `lsof` show it.
 */
export function unixPathLabel(path: string): string {
  return path.startsWith('\0') ? `@${path.slice(1)}` : path;
}
