/*
 * The layers of bars-bridge (README "Architecture"), enforced in CI (`npm run lint:layers`, run by .ci/run):
 *   protocol/ (HL7, MLLP, BaRS rules) and mapping/ (the engine): pure — no Redis, no BullMQ, no configuration
 *   state/ (the Redis key table and stores)  <  flows/ (intake, inbound, delivery, pas-events, responses)
 *   <  http/, ops/  <  runtime.ts and the CLI (src/cli/, src/<area>/cli.ts), the only importers of dev/.
 * Type-only imports count too: a type from a higher layer is a dependency on it.
 */
const CLI = '^src/(cli/|bin/|[a-z/-]*cli[.]ts$)';
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'A cycle makes two modules one; split the shared part out.', from: {}, to: { circular: true } },
    {
      name: 'pure-protocol-and-mapping',
      severity: 'error',
      comment: 'protocol/ and mapping/ know nothing of Redis, queues, configuration, flows, HTTP, ops or development wiring.',
      from: { path: '^src/(protocol|mapping)/', pathNot: CLI },
      to: { path: ['^src/(state|flows|http|ops|dev|config|cli)/', '^src/runtime\\.ts$', '^node_modules/(ioredis|bullmq)/'] },
    },
    {
      name: 'state-below-flows',
      severity: 'error',
      comment: 'state/ holds keys and stores; it does not know the flows that use them.',
      from: { path: '^src/state/' },
      to: { path: ['^src/(flows|http|ops|dev|cli)/', '^src/runtime\\.ts$'] },
    },
    {
      name: 'flows-below-http-and-ops',
      severity: 'error',
      comment: 'A flow is started by the composition root and read by ops; it does not reach up into them.',
      from: { path: '^src/flows/', pathNot: CLI },
      to: { path: ['^src/(http|ops|dev|cli)/', '^src/runtime\\.ts$'] },
    },
    {
      name: 'http-and-ops-below-the-root',
      severity: 'error',
      from: { path: '^src/(http|ops|config)/', pathNot: CLI },
      to: { path: ['^src/(dev|cli)/', '^src/runtime\\.ts$'] },
    },
    {
      name: 'config-below-everything-but-protocol',
      severity: 'error',
      comment: 'The configuration is read by flows and the root; it depends only on protocol definitions.',
      from: { path: '^src/config/' },
      to: { path: ['^src/(state|flows|http|ops|mapping)/'] },
    },
    {
      name: 'dev-only-from-the-root-and-cli',
      severity: 'error',
      comment: 'Development wiring (simulators, mock proxy, dev certificates) never reaches production paths.',
      from: { path: '^src/', pathNot: ['^src/dev/', '^src/runtime\\.ts$', CLI] },
      to: { path: '^src/dev/' },
    },
    {
      name: 'cli-only-from-the-cli',
      severity: 'error',
      from: { path: '^src/', pathNot: [CLI, '^src/runtime\\.ts$'] },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
