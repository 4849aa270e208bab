// Integration and conformance tests talk to a real redis-server and real sockets;
// test/setup.ts starts a private Redis for the run when REDIS_URL is not given.
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/conformance/**/*.test.ts'],
  require: ['test/setup.ts'],
  timeout: 20000,
  exit: true,
};
