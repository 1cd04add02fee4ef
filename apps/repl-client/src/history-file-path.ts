import { isAbsolute, join } from 'node:path';
import { historyEnvironmentVariable } from './cli.js';

/**
 * Where the REPL keeps its history: `$SOCKETSERVER_REPL_HISTORY` if set (empty: no history, `''`),
 * else `$XDG_STATE_HOME/socketserver/repl_history`, else `~/.local/state/socketserver/repl_history`.
 * A relative `XDG_STATE_HOME` is ignored, as the XDG base directory spec says.
 */
export function historyFilePath(environment: NodeJS.ProcessEnv, homeDirectory: string): string {
  const override = environment[historyEnvironmentVariable];
  if (override !== undefined) return override.trim();
  const stateHome = environment['XDG_STATE_HOME'];
  const stateDirectory =
    stateHome !== undefined && isAbsolute(stateHome) ? stateHome : join(homeDirectory, '.local', 'state');
  return join(stateDirectory, 'socketserver', 'repl_history');
}
