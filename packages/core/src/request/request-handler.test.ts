import { describe, expect, it } from 'vitest';
import { loadRequestHandler, locateRequestHandler, runRequestHandler } from './request-handler.js';
import { LocatedEchoHandler, RenamedExport } from '../test-support/located-handler.js';
import { EchoHandler, SocketHandler } from '../test-support/test-handlers.js';
import net from 'node:net';

describe('locating and loading a handler class', () => {
  it('a class with static moduleURL is located by its module and class name, and loads back', async () => {
    const location = locateRequestHandler(LocatedEchoHandler);
    expect(location).toEqual({ moduleURL: LocatedEchoHandler.moduleURL, exportName: 'LocatedEchoHandler' });
    expect(await loadRequestHandler(location)).toBe(LocatedEchoHandler);
  });

  it('static exportName names an export that differs from the class name', async () => {
    const location = locateRequestHandler(RenamedExport);
    expect(location.exportName).toBe('RenamedExport');
    expect(await loadRequestHandler(location)).toBe(RenamedExport);
  });

  it('a class without moduleURL cannot run elsewhere: ERR_HANDLER_NOT_LOCATABLE says what to add', () => {
    expect(() => locateRequestHandler(EchoHandler)).toThrow(
      expect.objectContaining({
        code: 'ERR_HANDLER_NOT_LOCATABLE',
        message: expect.stringContaining('static moduleURL = import.meta.url') as string,
      }),
    );
  });

  it('a missing module or export is ERR_HANDLER_LOAD_FAILED', async () => {
    const moduleURL = LocatedEchoHandler.moduleURL;
    await expect(loadRequestHandler({ moduleURL, exportName: 'Nope' })).rejects.toMatchObject({
      code: 'ERR_HANDLER_LOAD_FAILED',
    });
    await expect(
      loadRequestHandler({ moduleURL: new URL('../no-such-module.js', moduleURL).href, exportName: 'X' }),
    ).rejects.toMatchObject({ code: 'ERR_HANDLER_LOAD_FAILED' });
  });
});

describe('runRequestHandler', () => {
  const address = { host: '127.0.0.1', port: 1, family: 'IPv4' } as const;
  const server = { serverAddress: ['127.0.0.1', 0] as const, handlerOptions: {} };

  it('runs setup, handle and finish in order', async () => {
    const calls: string[] = [];
    class Ordered extends SocketHandler {
      override setup(): void {
        calls.push('setup');
      }
      override handle(): void {
        calls.push('handle');
      }
      override finish(): void {
        calls.push('finish');
      }
    }
    await runRequestHandler(Ordered, new net.Socket(), address, server);
    expect(calls).toEqual(['setup', 'handle', 'finish']);
  });

  it('runs finish when setup fails, and raises the first failure', async () => {
    let finished = false;
    class FailingSetup extends SocketHandler {
      override setup(): void {
        throw new Error('setup failed');
      }
      override finish(): void {
        finished = true;
      }
    }
    await expect(runRequestHandler(FailingSetup, new net.Socket(), address, server)).rejects.toThrow(
      'setup failed',
    );
    expect(finished).toBe(true);
  });

  it('when handle and finish both fail, neither is lost: a SuppressedError carries both', async () => {
    class BothFail extends SocketHandler {
      override handle(): void {
        throw new Error('handle failed');
      }
      override finish(): void {
        throw new Error('finish failed');
      }
    }
    const failure = await runRequestHandler(BothFail, new net.Socket(), address, server).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(SuppressedError);
    expect((failure as SuppressedError).error).toMatchObject({ message: 'finish failed' });
    expect((failure as SuppressedError).suppressed).toMatchObject({ message: 'handle failed' });
  });
});
