import { defineProject } from 'vitest/config';
import { sourceConditions, testTimeoutMs } from '../../vitest.shared.ts';

export default defineProject({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions } },
  test: {
    name: '@socketserver/handlers',
    include: ['src/**/*.test.ts'],
    testTimeout: testTimeoutMs,
    hookTimeout: testTimeoutMs,
  },
});
