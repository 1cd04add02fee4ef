import { defineConfig } from 'vitest/config';
import { testTimeoutMs } from './vitest.shared.ts';

// One root config runs every package's tests (`pnpm test`), each package as a project,
// and writes a JSON report that .ci/run sums into its closing `N passed, N failed` line.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'examples'],
    reporters: ['default', 'json'],
    outputFile: { json: '.test-report.json' },
    testTimeout: testTimeoutMs,
    hookTimeout: testTimeoutMs,
  },
});
