import { strict as assert } from 'node:assert';
import { logLines } from '../helpers/log-sink.js';
import { createLogger, logFormat } from '../../src/logging.js';

describe('log format (issue 11: pretty on a terminal, JSON otherwise)', () => {
  it('pretty only on a terminal outside production, unless LOG_FORMAT says otherwise', () => {
    assert.equal(logFormat({}, true), 'pretty');
    assert.equal(logFormat({ NODE_ENV: 'development' }, true), 'pretty');
    assert.equal(logFormat({ NODE_ENV: 'production' }, true), 'json');
    assert.equal(logFormat({}, false), 'json');
    assert.equal(logFormat({ LOG_FORMAT: 'pretty' }, false), 'pretty');
    assert.equal(logFormat({ LOG_FORMAT: 'json' }, true), 'json');
  });

  it('JSON lines keep the redaction of identifying headers', () => {
    createLogger('info', 't', 'json').info({ req: { headers: { authorization: 'Bearer secret' } }, marker: 'redaction-probe' }, 'm');
    const raw = logLines.find((l) => l.includes('redaction-probe'));
    const line = raw === undefined ? undefined : (JSON.parse(raw) as { req?: { headers: { authorization: string } } });
    assert.equal(line?.req?.headers.authorization, '[redacted]');
  });
});
