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
