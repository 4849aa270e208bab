// Integration and conformance tests talk to a real redis-server and real sockets;
// test/setup.ts starts a private Redis for the run when REDIS_URL is not given.
// Which files run is chosen by the npm scripts (mocha appends command-line files to a configured spec).
module.exports = {
  'node-option': ['import=tsx'],
  require: ['test/setup.ts'],
  reporter: 'test/reporter.cjs',
  timeout: 20000,
  exit: true,
};
