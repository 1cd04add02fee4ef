import type { UserWorkspaceConfig } from 'vitest/config';

// Tests import workspace packages from src through the `@socketserver/source` export
// condition, so a failing test points at the TypeScript source; built dist/ is still
// what the CLI, the examples and worker threads run.
export const sourceConditions: string[] = [
  '@socketserver/source',
  'module',
  'node',
  'development|production',
];

/** Bounded waits for black-box tests: every test and hook ends within these. */
export const testTimeoutMs = 30_000;

/** The vitest project of one workspace package: its src tests, importing siblings from src. */
export function packageProject(name: string): UserWorkspaceConfig {
  return {
    resolve: { conditions: sourceConditions },
    ssr: { resolve: { conditions: sourceConditions } },
    test: { name, include: ['src/**/*.test.ts'], testTimeout: testTimeoutMs, hookTimeout: testTimeoutMs },
  };
}
