import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { unknownVariables, VARIABLES } from '../../src/config/variables.js';

describe('configuration', function () {
  it('has working development defaults and is frozen', function () {
    const c = loadConfig({});
    assert.equal(c.env, 'development');
    assert.equal(c.http.port, 8443);
    assert.deepEqual(c.service.ids, ['2000072489']);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.http));
  });

  it('reads the documented environment variables', function () {
    const c = loadConfig({ BARS_PORT: '9443', BARS_SERVICE_ID: '111, 222', REDIS_URL: 'redis://example:6380', BARS_ALLOWED_ODS: 'A1001,B2002' });
    assert.equal(c.http.port, 9443);
    assert.deepEqual(c.service.ids, ['111', '222']);
    assert.equal(c.redis.embedded, false, 'an explicit REDIS_URL is never replaced by a private child');
    assert.deepEqual(c.access.odsCodes, ['A1001', 'B2002']);
  });

  it('lists every problem at once', function () {
    try {
      loadConfig({ BARS_PORT: 'abc', REDIS_URL: 'http://nope', NODE_ENV: 'production' });
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      assert.match(text, /http\.port/);
      assert.match(text, /redis\.url/);
    }
  });

  it('requires certificates and an admin token in production', function () {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.includes('BARS_TLS_CERT')) && err.problems.some((p) => p.includes('ADMIN_TOKEN')));
  });
});

describe('strict configuration', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bars-config-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });
  const file = (name: string, yaml: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, yaml);
    return p;
  };
  const problemsOf = (fn: () => unknown): readonly string[] => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems;
    }
    return assert.fail('expected a ConfigError');
  };
  const production = {
    NODE_ENV: 'production',
    BARS_TLS_CERT: 'c.pem',
    BARS_TLS_KEY: 'k.pem',
    BARS_TLS_CA: 'ca.pem',
    ADMIN_TOKEN: 'a-long-enough-admin-token',
    BARS_SERVICE_NAME: 'Example Trust ED',
    BARS_REFERENCE_SYSTEM: 'https://fhir.example.nhs.uk/Id/bars-reference',
    BARS_ODS_CODE: 'RYE',
    BARS_SERVICE_ID: '2000012345',
    BARS_TLS_ALLOW: 'proxy.int.api.service.nhs.uk',
    PAS_MLLP_HOST: 'pas.example.nhs.uk',
    PAS_EVENTS_ALLOW: 'PAS^RXX',
  };

  it('production refuses weak settings (issue 14 item 6): empty BARS_TLS_ALLOW, http:// proxy or token URL, no PAS, a short admin token', function () {
    const { BARS_TLS_ALLOW: _a, PAS_MLLP_HOST: _p, ...weak } = production;
    const problems = problemsOf(() =>
      loadConfig({ ...weak, ADMIN_TOKEN: 'short', BARS_PROXY_URL: 'http://proxy.example', BARS_TOKEN_URL: 'http://proxy.example/token', BARS_CLIENT_ID: 'c', BARS_KID: 'k', BARS_PRIVATE_KEY: 'key.pem', ALERT_WEBHOOK_URL: 'http://alerts.example/hook' }),
    );
    for (const expected of [/^tls\.allow: BARS_TLS_ALLOW is required/, /^BARS_PROXY_URL: must be an https:\/\/ URL/, /^BARS_TOKEN_URL: must be an https:\/\/ URL/, /^ALERT_WEBHOOK_URL: must be an https:\/\/ URL/, /^pas\.host: PAS_MLLP_HOST/, /ADMIN_TOKEN must be at least 16/]) {
      assert.ok(problems.some((p) => expected.test(p)), `${expected}: ${problems.join('\n')}`);
    }
    // The documented opt-out, https URLs and a destinations block are accepted.
    const { PAS_MLLP_HOST: _q, ...noPas } = production;
    const destinations = file('dest.yaml', 'destinations:\n  - { name: pas, kind: mllp, host: pas.example.nhs.uk, port: 2575 }\n');
    const c = loadConfig({ ...noPas, ADMIN_TOKEN: 'a-long-enough-admin-token', BARS_TLS_ALLOW: '', BARS_TLS_ALLOW_ANY_CLIENT: 'true', BARS_CONFIG: destinations, ALERT_WEBHOOK_URL: 'https://alerts.example/hook' });
    assert.equal(c.tls.allowAnyClient, true);
    assert.equal(c.alerts.webhookUrl, 'https://alerts.example/hook');
    assert.equal(loadConfig({ NODE_ENV: 'development' }).pas.host, '127.0.0.1', 'development keeps the simulator');
  });

  it('production refuses our development identity: service name, reference system, ODS code and DoS id must be set (issue 12)', function () {
    const { BARS_SERVICE_NAME: _n, BARS_REFERENCE_SYSTEM: _r, BARS_ODS_CODE: _o, BARS_SERVICE_ID: _i, ...withoutIdentity } = production;
    const problems = problemsOf(() => loadConfig(withoutIdentity));
    for (const variable of ['BARS_SERVICE_NAME', 'BARS_REFERENCE_SYSTEM', 'BARS_ODS_CODE', 'BARS_SERVICE_ID']) {
      assert.ok(problems.some((p) => p.includes(variable) && p.includes('required in production')), `${variable}: ${problems.join('\n')}`);
    }
    const c = loadConfig(production);
    assert.equal(c.service.name, 'Example Trust ED');
    assert.equal(c.service.referenceSystem, 'https://fhir.example.nhs.uk/Id/bars-reference');
    // Development keeps working without any of it.
    assert.equal(loadConfig({}).service.name, 'bars-bridge (development)');
  });

  it('refuses unknown YAML keys at any depth, each with its path', function () {
    const config = file('unknown.yaml', [
      'alert: { enabled: false }',
      'http: { prot: 8443 }',
      'slots:',
      '  - healthcareService: 7e0a3e1c-93a5-4a0b-9a43-3f7e1f5d2c11',
      '    hourz: { "1": "08:00-20:00" }',
      'destinations:',
      '  - { name: pas, kind: mllp, host: pas.local, port: 2576, ackPolicy: { AE: hold, XX: retry }, tls: { sni: pas.local } }',
      '  - { name: drop, kind: file, directory: /tmp/drop, host: nope }',
    ].join('\n'));
    const problems = problemsOf(() => loadConfig({ BARS_CONFIG: config }));
    assert.deepEqual([...problems].sort(), [
      'alert: unknown key',
      'destinations[0].ackPolicy.XX: unknown key',
      'destinations[0].tls.sni: unknown key',
      'destinations[1].host: unknown key',
      'http.prot: unknown key',
      'slots[0].hourz: unknown key',
    ]);
  });

  it('takes the mode from NODE_ENV only: `env` in the file is refused', function () {
    const config = file('env.yaml', 'env: development\n');
    const problems = problemsOf(() => loadConfig({ ...production, BARS_CONFIG: config }));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^env: unknown key \(set by NODE_ENV/);
  });

  it('loads a file that uses known keys at every level', function () {
    const config = file('good.yaml', [
      'http: { bodyLimitBytes: 1048576 }',
      'slots:',
      '  - { healthcareService: 7e0a3e1c-93a5-4a0b-9a43-3f7e1f5d2c11, hours: { "1": "09:00-17:00" }, deliveryChannel: telephone }',
      'destinations:',
      '  - { name: pas, kind: mllp, host: pas.local, port: 2576, ackTimeoutMs: 60000, ackPolicy: { AR: hold }, tls: { ca: ca.pem } }',
      'alerts: { errorRate: 0.1 }',
      'retention: { messagesDays: 365 }',
    ].join('\n'));
    const c = loadConfig({ BARS_CONFIG: config });
    assert.equal(c.http.bodyLimitBytes, 1048576);
    assert.equal(c.slots[0]!.deliveryChannel, 'telephone');
    assert.deepEqual(c.destinations[0]!.kind === 'mllp' && c.destinations[0]!.ackPolicy, { AE: 'retry', AR: 'hold', CE: 'retry', CR: 'dead-letter' });
    assert.equal(c.retention.messagesDays, 365);
  });

  it('refuses unknown BARS_, PAS_, ADMIN_ and REDIS_ variables in production, naming them', function () {
    assert.doesNotThrow(() => loadConfig(production), 'the production baseline of this test is valid');
    const problems = problemsOf(() => loadConfig({ ...production, BARS_TSL_CERT: 'x', PAS_MLLP_HOTS: 'pas', ADMIN_TOKNES: 'a', REDIS_URI: 'r', BARSTOOL: 'not ours', HOME: '/root' }));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^unknown environment variables ADMIN_TOKNES, BARS_TSL_CERT, PAS_MLLP_HOTS, REDIS_URI: /);
    assert.doesNotMatch(problems[0]!, /BARSTOOL|HOME|'x'/);
  });

  it('lets unknown variables through in development and test (start-up warns), and finds exactly ours', function () {
    const env = { BARS_TSL_CERT: 'x', BARS_PORT: '9443', TEST_REDIS_URL: 'redis://x', NODE_OPTIONS: '' };
    assert.equal(loadConfig(env).http.port, 9443);
    assert.equal(loadConfig({ ...env, NODE_ENV: 'test' }).env, 'test');
    assert.deepEqual(unknownVariables(env), ['BARS_TSL_CERT']);
    assert.deepEqual(unknownVariables(Object.fromEntries(VARIABLES.map((v) => [v.name, '1']))), []);
    // Kubernetes service links of a Service named `redis` or `pas` in the namespace are not typos of ours.
    const links = { REDIS_SERVICE_HOST: '10.0.0.7', REDIS_SERVICE_PORT: '6379', REDIS_PORT: 'tcp://10.0.0.7:6379', REDIS_PORT_6379_TCP_ADDR: '10.0.0.7', PAS_SERVICE_PORT_MLLP: '2576' };
    assert.deepEqual(unknownVariables({ ...links, REDIS_PORT: '6379' }), ['REDIS_PORT']);
    assert.doesNotThrow(() => loadConfig({ ...production, ...links }));
  });

  it('refuses a NODE_ENV other than production, development or test, saying so', function () {
    for (const value of ['prod', 'Production', 'dev', 'staging', '']) {
      const problems = problemsOf(() => loadConfig({ NODE_ENV: value }));
      assert.ok(problems.includes(`NODE_ENV: must be production, development, test or unset (development), not "${value}"; refusing to start`), problems.join('\n'));
    }
    assert.equal(loadConfig({}).env, 'development');
    assert.equal(loadConfig({ NODE_ENV: 'development' }).env, 'development');
    assert.equal(loadConfig({ NODE_ENV: 'test' }).env, 'test');
    assert.equal(loadConfig(production).env, 'production');
  });

  it('refuses malformed numbers and booleans, naming the variable, instead of a silent default', function () {
    const problems = problemsOf(() => loadConfig({ BARS_PORT: '84a3', BARS_RETENTION_DAYS: 'ninety', BARS_ALERTS: 'flase', PAS_SIMULATOR: 'maybe' }));
    assert.deepEqual([...problems].sort(), [
      'alerts.enabled (BARS_ALERTS): must be true or false (also 1/0, yes/no, on/off), not "flase"',
      'http.port (BARS_PORT): must be an integer, not "84a3"',
      'pas.simulator (PAS_SIMULATOR): must be true or false (also 1/0, yes/no, on/off), not "maybe"',
      'retention.messagesDays (BARS_RETENTION_DAYS): must be a number, not "ninety"',
    ]);
    const c = loadConfig({ BARS_ALERTS: 'off', BARS_RETENTION: '0', PAS_SIMULATOR: 'Yes', BARS_PORT: '' });
    assert.deepEqual([c.alerts.enabled, c.retention.enabled, c.pas.simulator, c.http.port], [false, false, true, 8443]);
  });

  it('names the variable of a value the schema refuses', function () {
    const problems = problemsOf(() => loadConfig({ REDIS_URL: 'http://nope', BARS_PORT: '70000' }));
    assert.ok(problems.some((p) => p.startsWith('redis.url (REDIS_URL): ')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('http.port (BARS_PORT): ')), problems.join('\n'));
  });
});
