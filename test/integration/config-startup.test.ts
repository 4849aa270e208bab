/*
 * Start-up of the real CLI (`bars-bridge start`) with a strict configuration: an unknown variable with one of our
 * prefixes is a warning in development and a refusal in production; a NODE_ENV that is not one of the three modes
 * refuses to start instead of running the development mode.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { testCerts } from '../helpers/harness.js';
import { captureChildOutput } from '../helpers/log-sink.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `bars-bridge start --web` with exactly `env` (plus PATH); `until` ends it with SIGTERM once stdout matches, 100 s at most (loading the application under a loaded CI machine can take 40 s). */
function startCli(env: Record<string, string>, until?: RegExp): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/cli.ts', 'start', '--web'], {
      env: { PATH: process.env.PATH!, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    captureChildOutput(child); // the run-wide PHI check reads what children print too
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (until?.test(stdout)) {
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A child that never prints what the test waits for must not outlive the test.
    const bound = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(bound);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('start-up with a strict configuration (bars-bridge start)', function () {
  this.timeout(120_000);
  const certs = testCerts();
  const base = {
    BARS_HOST: '127.0.0.1',
    BARS_PORT: '0',
    ADMIN_PORT: '0',
    BARS_TLS_CERT: certs.serverCert,
    BARS_TLS_KEY: certs.serverKey,
    BARS_TLS_CA: certs.caCert,
    ADMIN_TOKEN: 'startup-test',
  };

  it('warns about an unknown BARS_ variable in development, naming it, and starts', async function () {
    const run = await startCli(
      { ...base, NODE_ENV: 'development', LOG_LEVEL: 'warn', REDIS_URL: process.env.TEST_REDIS_URL!, REDIS_PREFIX: `{cfg-${randomUUID().slice(0, 8)}}`, BARS_TSL_CERT: 'x.pem' },
      /unknown environment variables/,
    );
    const line = run.stdout.split('\n').find((l) => l.includes('unknown environment variables'));
    assert.ok(line, `no warning in:\n${run.stdout}\n${run.stderr}`);
    const entry = JSON.parse(line) as { level: number; variables: string[] };
    assert.equal(entry.level, 40, 'pino warn');
    assert.deepEqual(entry.variables, ['BARS_TSL_CERT']);
  });

  // Both in one test, run side by side: each child loads the whole application before it refuses.
  it('refuses to start, exit 2, saying why: an unknown variable in production, NODE_ENV=prod', async function () {
    const [unknown, prod] = await Promise.all([
      startCli({ ...base, NODE_ENV: 'production', BARS_TSL_CERT: 'x.pem', PAS_EVENT_PORT: '2575' }),
      startCli({ ...base, NODE_ENV: 'prod' }),
    ]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /Invalid configuration:\n {2}- unknown environment variables BARS_TSL_CERT, PAS_EVENT_PORT: /);
    assert.equal(unknown.stdout, '', 'nothing started, nothing logged');
    assert.equal(prod.code, 2, prod.stderr);
    assert.match(prod.stderr, /NODE_ENV: must be production, development, test or unset \(development\), not "prod"; refusing to start/);
    assert.equal(prod.stdout, '', 'no development mode: no simulator, no mock proxy, no listener');
  });
});
