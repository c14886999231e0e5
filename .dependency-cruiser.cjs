/**
 * The dependency rules CI enforces (`npm test` runs them first).
 * The ledger core stays pure: it may import only itself, zod, and node:crypto (deterministic hashing).
 */
module.exports = {
  forbidden: [
    {
      name: 'ledger-core-is-pure',
      comment: 'src/ledger is the functional core: no I/O, no clock, no randomness, no shell code.',
      severity: 'error',
      from: { path: '^src/ledger/' },
      to: { pathNot: ['^src/ledger/', '^node_modules/zod/', '^crypto$', '^node:crypto$'] },
    },
    {
      name: 'wire-is-shared',
      comment: 'src/wire is what publishers and workers share: it may import only the ledger core, so that both sides can import it.',
      severity: 'error',
      from: { path: '^src/wire/' },
      to: { pathNot: ['^src/wire/', '^src/ledger/'] },
    },
    {
      name: 'sdk-does-not-import-the-worker',
      comment: 'The SDK shares the wire (src/wire) and the NATS names with the workers, never the worker itself.',
      severity: 'error',
      from: { path: '^src/sdk/' },
      to: { path: '^src/shards/', pathNot: ['^src/shards/(names|streams|connection-breaks)\\.ts$'] },
    },
    {
      name: 'batch-planner-is-pure',
      comment: 'The batch planner is planning only: no NATS, no Postgres, no clock; the shard loads, commits and sends.',
      severity: 'error',
      from: { path: '^src/shards/batch-planner\\.ts$' },
      to: { path: ['^node_modules/(pg|@nats-io)/', '^(node:)?(timers|timers/promises|net|fs)$', '^src/shards/(partition-shard|partition-reader|event-outbox|event-batcher|worker|group-committer|fence)\\.ts$'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'routes-do-not-build-services',
      comment:
        'src/api/services.ts builds each desk once per process and hands it to the routes (fastify decorate): ' +
        'a route file imports a desk for its types only, never to build one of its own. ' +
        '(src/pools/pools.ts is left out: the top-investors report route calls its query function.)',
      severity: 'error',
      from: { path: '^src/api/routes/' },
      to: { path: '^src/(payments/(desk|conversions)|dealing/(desk|rebalancer))\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'src-does-not-import-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
