import { describe, expect, it } from 'vitest';
import { historyFilePath } from './history-file-path.js';

describe('historyFilePath', () => {
  it('defaults to ~/.local/state/socketserver/repl_history', () => {
    expect(historyFilePath({}, '/home/ada')).toBe('/home/ada/.local/state/socketserver/repl_history');
  });

  it('follows $XDG_STATE_HOME, ignoring a relative one as the XDG spec says', () => {
    expect(historyFilePath({ XDG_STATE_HOME: '/var/state' }, '/home/ada')).toBe(
      '/var/state/socketserver/repl_history',
    );
    expect(historyFilePath({ XDG_STATE_HOME: 'state' }, '/home/ada')).toBe(
      '/home/ada/.local/state/socketserver/repl_history',
    );
  });

  it('takes $SOCKETSERVER_REPL_HISTORY first; empty means no history', () => {
    const environment = { XDG_STATE_HOME: '/var/state', SOCKETSERVER_REPL_HISTORY: '/tmp/history' };
    expect(historyFilePath(environment, '/home/ada')).toBe('/tmp/history');
    expect(historyFilePath({ SOCKETSERVER_REPL_HISTORY: ' ' }, '/home/ada')).toBe('');
  });
});
