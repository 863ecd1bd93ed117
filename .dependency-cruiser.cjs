/** Architecture rules: the domain stays pure, and layers depend only downwards. */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'src/domain does no I/O: no frameworks, drivers or loggers, and nothing outside src/domain but zod.',
      severity: 'error',
      from: { path: '^src/domain' },
      to: {
        // zod is how events and commands describe their shapes; nothing else comes in.
        pathNot: ['^src/domain', '^node_modules/zod/'],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'domain-uses-no-node-io',
      severity: 'error',
      from: { path: '^src/domain' },
      to: { dependencyTypes: ['core'], pathNot: '^(crypto|node:crypto)$' },
    },
    {
      name: 'event-store-is-a-leaf',
      comment: 'The event store knows nothing of commands, projections, queries, workers or HTTP.',
      severity: 'error',
      from: { path: '^src/eventstore' },
      to: { path: '^src/(commands|projections|queries|workers|http|cli)' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
