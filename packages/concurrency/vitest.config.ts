import { defineProject } from 'vitest/config';
import { testTimeoutMs } from '../../vitest.shared.ts';

// Worker threads and child processes load the built worker entry and handler modules with plain
// Node, so these tests use the built packages (dist), not the source condition.
export default defineProject({
  test: {
    name: '@socketserver/concurrency',
    include: ['src/**/*.test.ts'],
    testTimeout: testTimeoutMs,
    hookTimeout: testTimeoutMs,
  },
});
