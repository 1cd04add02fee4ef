export { ClientError, type ClientErrorCode } from './client-error.js';
export { connect, type ConnectOptions } from './connect.js';
export { connectUnix, type ConnectUnixOptions } from './connect-unix.js';
export {
  DatagramClient,
  type DatagramAddress,
  type OpenUDPOptions,
  type OpenUnixOptions,
  type RecvFromOptions,
} from './datagram-client.js';
export { TestClient, type ReadlineOptions } from './test-client.js';
export type { TimeoutOptions } from './timeout-options.js';
