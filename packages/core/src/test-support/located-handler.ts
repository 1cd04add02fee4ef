import { EchoHandler } from './test-handlers.js';

/** A handler that says where it lives, as one that runs in a worker must. */
export class LocatedEchoHandler extends EchoHandler {
  static moduleURL: string = import.meta.url;
}

/** Exported under another name than its class name. */
export const RenamedExport: typeof LocatedEchoHandler = class Renamed extends LocatedEchoHandler {
  static exportName = 'RenamedExport';
};
