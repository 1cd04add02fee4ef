import { describe, expect, it } from 'vitest';
import { CommandEchoHandler } from './test-support/command-echo-handler.js';
import {
  forking,
  ForkingTCPServer,
  pool,
  threading,
  ThreadingTCPServer,
  WorkerPoolTCPServer,
  type WorkerPool,
} from '@socketserver/concurrency';

describe('strategy options', () => {
  it.each([
    ['threading', () => threading({ maxThreads: 0 })],
    ['threading', () => threading({ maxThreads: 1.5 })],
    ['threading', () => threading({ idleThreadTimeoutMs: -1 })],
    ['threading', () => threading({ startTimeoutMs: Number.NaN })],
    ['threading', () => threading({ startTimeoutMs: -1 })],
    ['pool', () => pool({ unresponsiveTimeoutMs: -1 })],
    ['pool', () => pool({ unresponsiveTimeoutMs: 2 ** 31 })],
    ['forking', () => forking({ maxChildren: 0 })],
    ['forking', () => forking({ maxChildren: 2, spareChildren: 3 })],
    ['forking', () => forking({ reuseChildren: 'yes' as unknown as boolean })],
    ['pool', () => pool({ workers: 0 })],
    ['pool', () => pool({ kind: 'fiber' as 'thread' })],
    ['pool', () => pool({ requestsPerWorker: 0 })],
    ['pool', () => pool({ blockOnClose: 1 as unknown as boolean })],
  ] as const)('%s rejects a bad option at construction with ERR_INVALID_OPTION (%#)', (_name, create) => {
    expect(create).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  it.each([
    ['threading', threading(), 64],
    ['forking', forking(), 40],
    ['thread-pool', pool(), 16],
    ['process-pool', pool({ kind: 'process', workers: 4, requestsPerWorker: 3 }), 12],
  ] as [string, WorkerPool, number][])(
    '%s has maxConcurrentRequests %i by default',
    (name, strategy, max) => {
      expect(strategy.name).toBe(name);
      expect(strategy.maxConcurrentRequests).toBe(max);
      expect(strategy.workerCount).toBe(0);
    },
  );

  it('a server class rejects a bad strategy option before it binds', () => {
    expect(() => new ThreadingTCPServer(['127.0.0.1', 0], CommandEchoHandler, { maxThreads: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
    expect(() => new ForkingTCPServer(['127.0.0.1', 0], CommandEchoHandler, { maxChildren: -1 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
    expect(() => new WorkerPoolTCPServer(['127.0.0.1', 0], CommandEchoHandler, { workers: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });
});
