import { defineConfig } from 'vitest/config';

/**
 * Tests that crash or restart servers, freeze or kill workers, or measure time (a spike window, a
 * recovery bound). Beside other test files on a 2-core machine they starve and fail for want of CPU, not
 * for a defect (issue 16, item 13), so `npm test` runs them in a group of their own, one file at a time,
 * after the rest: `vitest run --project parallel`, then `vitest run --project alone`.
 */
export const TESTS_RUN_ALONE = [
  'test/chaos/chaos.test.ts',
  'test/integration/nats-os-crash.test.ts',
  'test/integration/shard-crash.test.ts',
  'test/integration/shard-kill.test.ts',
  'test/integration/shard-zombie.test.ts',
  'test/integration/shard-starved.test.ts',
  'test/integration/shard-consumer-lost.test.ts',
  'test/integration/shard-ambiguous-commit.test.ts',
  'test/integration/shard-sequence.test.ts',
  'test/integration/postgres-tls.test.ts',
  'test/integration/nats-permissions.test.ts',
  'test/integration/backpressure.test.ts',
  'test/integration/alerts.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests each create their own database; two files at a time keeps a 2-core machine responsive.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'parallel', include: ['test/**/*.test.ts'], exclude: TESTS_RUN_ALONE } },
      // One file at a time (`npm test` passes --maxWorkers=1 as well).
      { extends: true, test: { name: 'alone', include: TESTS_RUN_ALONE, fileParallelism: false } },
    ],
  },
});
