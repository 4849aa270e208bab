import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
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
    const lines: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    const sink = new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) });
    process.stdout.write = sink.write.bind(sink) as typeof process.stdout.write;
    try {
      createLogger('info', 't', 'json').info({ req: { headers: { authorization: 'Bearer secret' } } }, 'm');
    } finally {
      process.stdout.write = original;
    }
    const line = JSON.parse(lines.join('')) as { req: { headers: { authorization: string } } };
    assert.equal(line.req.headers.authorization, '[redacted]');
  });
});
