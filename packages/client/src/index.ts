export { ClientError, type ClientErrorCode } from './client-error.js';
export { connect, type ConnectOptions } from './connect.js';
export { TestClient, type ReadlineOptions } from './test-client.js';
export type { TimeoutOptions } from './timeout-options.js';
