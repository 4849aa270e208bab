import { strict as assert } from 'node:assert';
import { ConfigError, loadConfig } from '../../src/config/load.js';

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
