/*
 * Alert rules (issue 6 §4): the pure evaluation, the change-only reporting of the runner, and the sources that do
 * not need Redis (certificates, the listener error window).
 */
import { strict as assert } from 'node:assert';
import { Counter, Registry } from 'prom-client';
import forge from 'node-forge';
import { loadConfig } from '../../../src/config/load.js';
import { certificateExpiries, evaluateAlerts, listenerErrorWindow, startAlerts, type AlertStates, type Observations } from '../../../src/ops/alerts.js';
import { createMetrics } from '../../../src/metrics.js';
import type { Logger } from '../../../src/logging.js';

const rules = loadConfig({ NODE_ENV: 'test' }).alerts;
const T0 = Date.parse('2026-05-01T10:00:00Z');
const DAY = 86_400_000;

function run(sequence: Array<Omit<Observations, 'at'> & { at?: number }>): Array<ReturnType<typeof evaluateAlerts>> {
  let states: AlertStates = new Map();
  return sequence.map((o, i) => {
    const r = evaluateAlerts(states, { at: T0 + i * 15_000, ...o }, rules);
    states = r.states;
    return r;
  });
}

function fakeLog(): { log: Logger; lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg });
  return { lines, log: { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as unknown as Logger };
}

function certPem(notAfter: Date): string {
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(notAfter.getTime() - 365 * DAY);
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  cert.setIssuer([{ name: 'commonName', value: 'localhost' }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

describe('alerts: evaluateAlerts', function () {
  it('has the documented defaults', function () {
    assert.deepEqual(
      { ...rules },
      { enabled: true, intervalSeconds: 15, laneHeadMaxAgeSeconds: 300, deadLettersAbove: 0, deadLetterWindowHours: 24, errorRate: 0.05, errorWindowSeconds: 300, errorMinRequests: 20, redisDurability: true, certExpiryDays: 21 },
    );
  });

  it('fires a stuck lane head once, keeps it firing silently, and resolves it once', function () {
    const head = (ageS: number) => ({ destination: 'pas', waiting: 3, head: { messageId: 'm1.ref', controlId: 'BB1', since: T0 - ageS * 1000, attempts: 9, lastOutcome: 'ack-timeout' } });
    const [a, b, c, d, e] = run([
      { lanes: [head(10)] },
      { lanes: [head(400)] },
      { lanes: [head(600)] },
      { lanes: [{ destination: 'pas', waiting: 0 }] },
      { lanes: [{ destination: 'pas', waiting: 0 }] },
    ]);
    assert.deepEqual(a!.changes, [], 'first seen not firing: recorded, not reported');
    assert.equal(a!.states.get('lane_head_stuck|pas')!.firing, false);
    assert.equal(b!.changes.length, 1);
    assert.deepEqual({ ...b!.changes[0]!, details: undefined }, { alert: 'lane_head_stuck', subject: 'pas', firing: true, details: undefined, lastedMs: 15_000 });
    assert.equal(b!.changes[0]!.details.controlId, 'BB1');
    assert.equal(b!.changes[0]!.details.lastOutcome, 'ack-timeout');
    assert.deepEqual(c!.changes, [], 'still firing: no new report');
    assert.equal(c!.states.get('lane_head_stuck|pas')!.details.headAgeSeconds, 630, 'details follow the latest observation');
    assert.equal(d!.changes.length, 1);
    assert.equal(d!.changes[0]!.firing, false);
    assert.equal(d!.changes[0]!.lastedMs, 30_000);
    assert.deepEqual(e!.changes, []);
  });

  it('fires dead letters per kind while the count is above the threshold', function () {
    const [a, b, c] = run([
      { deadLetters: { delivery: 0, responses: 0, mappingFailures: 0 } },
      { deadLetters: { delivery: 2, responses: 0, mappingFailures: 1 } },
      { deadLetters: { delivery: 0, responses: 0, mappingFailures: 1 } },
    ]);
    assert.deepEqual(a!.changes, []);
    assert.deepEqual(b!.changes.map((x) => [x.subject, x.firing, x.details.count]), [['delivery', true, 2], ['mapping', true, 1]]);
    assert.deepEqual(c!.changes.map((x) => [x.subject, x.firing]), [['delivery', false]]);
  });

  it('fires the listener error rate only above the minimum number of answers', function () {
    const [a, b, c] = run([{ listener: { answered: 10, errors: 5 } }, { listener: { answered: 100, errors: 6 } }, { listener: { answered: 100, errors: 5 } }]);
    assert.deepEqual(a!.changes, [], '50 % of 10 answers is below errorMinRequests');
    assert.equal(b!.changes[0]!.firing, true);
    assert.equal(b!.changes[0]!.details.rate, 0.06);
    assert.equal(c!.changes[0]!.firing, false, '5 % is not above 5 %');
  });

  it('fires for an unreachable or non-durable Redis', function () {
    const [a, b, c, d] = run([
      { redis: { reachable: true, durable: true, aof: true, evictionPolicy: 'noeviction' } },
      { redis: { reachable: true, durable: false, aof: false, evictionPolicy: 'allkeys-lru' } },
      { redis: { reachable: false, durable: false } },
      { redis: { reachable: true, durable: true, aof: true, evictionPolicy: 'noeviction' } },
    ]);
    assert.deepEqual(a!.changes, []);
    assert.equal(b!.changes[0]!.details.evictionPolicy, 'allkeys-lru');
    assert.deepEqual(c!.changes, [], 'unreachable after not durable: the same alert, still firing');
    assert.equal(d!.changes[0]!.firing, false);
  });

  it('fires for a certificate expiring within certExpiryDays or unreadable', function () {
    const [a] = run([
      {
        certificates: [
          { name: 'server', notAfter: T0 + 60 * DAY },
          { name: 'proxy-client', notAfter: T0 + 5 * DAY },
          { name: 'other', error: 'ENOENT' },
        ],
      },
    ]);
    assert.deepEqual(a!.changes.map((c) => [c.subject, c.firing, c.details.daysLeft ?? c.details.error]), [['proxy-client', true, 5], ['other', true, 'ENOENT']]);
  });

  it('keeps the state of a family not observed this time, and resolves a subject that went away', function () {
    const lane = (d: string) => ({ destination: d, waiting: 0, head: { messageId: 'm', controlId: 'c', since: T0 - 1_000_000, attempts: 1 } });
    const [, b, c] = run([{ lanes: [lane('pas'), lane('files')] }, { deadLetters: { delivery: 0, responses: 0, mappingFailures: 0 } }, { lanes: [lane('pas')] }]);
    assert.deepEqual(b!.changes, [], 'lanes not observed (e.g. Redis down): no resolution');
    assert.equal(b!.states.get('lane_head_stuck|files')!.firing, true);
    assert.deepEqual(c!.changes.map((x) => [x.subject, x.firing]), [['files', false]]);
    assert.equal(c!.states.has('lane_head_stuck|files'), false);
  });
});

describe('alerts: sources and runner', function () {
  it('reads certificate expiry from a PEM file or PEM text', function () {
    const notAfter = new Date(Math.floor((Date.now() + 10 * DAY) / 1000) * 1000);
    const [a, b] = certificateExpiries([
      { name: 'server', pem: certPem(notAfter) },
      { name: 'missing', pem: '/nonexistent/server.pem' },
      { name: 'unset', pem: undefined },
    ]);
    assert.equal(a!.notAfter, notAfter.getTime());
    assert.deepEqual(b, { name: 'missing', error: 'ENOENT' });
  });

  it('computes the 5xx share over a sliding window from bars_bridge_requests_total (501 excluded)', async function () {
    const counter = new Counter({ name: 'req_total', help: 'x', labelNames: ['endpoint', 'status', 'code'] as const, registers: [new Registry()] });
    let now = T0;
    const window = listenerErrorWindow(counter, 60, () => now);
    counter.inc({ endpoint: 'POST /$process-message', status: '200', code: '' }, 40);
    counter.inc({ endpoint: 'POST /$process-message', status: '503', code: 'REC_UNAVAILABLE' }, 10);
    counter.inc({ endpoint: 'PUT /ServiceRequest/{id}', status: '501', code: 'REC_NOT_IMPLEMENTED' }, 50);
    now += 30_000;
    assert.deepEqual(await window(), { answered: 100, errors: 10 });
    now += 70_000;
    counter.inc({ endpoint: 'POST /$process-message', status: '200', code: '' }, 20);
    assert.deepEqual(await window(), { answered: 20, errors: 0 }, 'answers older than the window no longer count');
  });

  it('logs a change of state once (error when firing, info when resolved) and sets bars_bridge_alert 1/0', async function () {
    const { log, lines } = fakeLog();
    const metrics = createMetrics();
    let dead = 0;
    let failing = false;
    const runner = startAlerts({
      rules,
      log,
      metrics,
      timer: false,
      sources: {
        deadLetters: async () => {
          if (failing) {
            throw new Error('Connection is closed.');
          }
          return { delivery: dead, responses: 0, mappingFailures: 0 };
        },
      },
    });
    await runner.evaluate();
    dead = 3;
    await runner.evaluate();
    await runner.evaluate();
    failing = true;
    await runner.evaluate();
    failing = false;
    await runner.evaluate();
    dead = 0;
    await runner.evaluate();
    await runner.evaluate();
    await runner.stop();
    const alertLines = lines.filter((l) => l.level !== 'debug');
    assert.deepEqual(
      alertLines.map((l) => [l.level, l.msg, l.obj.alert, l.obj.subject]),
      [
        ['error', 'alert firing', 'dead_letters', 'delivery'],
        ['info', 'alert resolved', 'dead_letters', 'delivery'],
      ],
    );
    assert.equal(alertLines[0]!.obj.count, 3);
    const text = await metrics.registry.getSingleMetricAsString('bars_bridge_alert');
    assert.match(text, /bars_bridge_alert\{alert="dead_letters",subject="delivery"\} 0/);
    assert.match(text, /bars_bridge_alert\{alert="dead_letters",subject="responses"\} 0/);
  });
});
