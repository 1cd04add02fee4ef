import { defineProject } from 'vitest/config';
import { testTimeoutMs } from '../vitest.shared.ts';

// The examples run as real processes on the built packages (node examples/x.ts), as a user runs them.
export default defineProject({
  test: {
    name: '@socketserver/examples',
    include: ['*.test.ts'],
    testTimeout: testTimeoutMs,
    hookTimeout: testTimeoutMs,
  },
});
