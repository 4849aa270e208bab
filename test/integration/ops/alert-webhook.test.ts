/*
 * Alert delivery to a real local HTTP server: retries until it answers 2xx, in order, bounded; the alerts name the
 * dead letters and the lane involved, read from real Redis state.
 */
import { strict as assert } from 'node:assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordDeadLetter } from '../../../src/flows/delivery/dead-letters.js';
import { enqueueDelivery } from '../../../src/flows/delivery/lanes.js';
import { startAlertWebhook, type WebhookPayload } from '../../../src/ops/alert-webhook.js';
import { deadLetterObservations, laneObservations, startAlerts, type AlertChange } from '../../../src/ops/alerts.js';
import { adt, testRedis, uniquePrefix } from '../delivery/helpers.js';

interface Hit {
  readonly at: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: WebhookPayload;
}

/** A webhook receiver whose answers are scripted per request (status, headers); it records every request. */
async function receiver(answers: Array<{ status: number; headers?: Record<string, string>; hangMs?: number }>): Promise<{ url: string; hits: Hit[]; close: () => Promise<void> }> {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      hits.push({ at: Date.now(), headers: req.headers, body: JSON.parse(body) as WebhookPayload });
      const answer = answers.shift() ?? { status: 200 };
      setTimeout(() => {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.status < 300 ? 'ok' : 'no');
      }, answer.hangMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/alerts?token=secret-in-url`,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A logger that keeps its lines. */
function memoryLog(): { log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void; error: (o: object, m: string) => void }; lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { log: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

const firing = (subject: string, details: AlertChange['details'] = { count: 1 }): AlertChange => ({ alert: 'dead_letters', subject, firing: true, details });

describe('alert webhook (real HTTP server)', function () {
  this.timeout(20_000);

  it('retries a receiver that fails twice (503, then no answer within the timeout), then delivers once, Alertmanager-shaped with a text line', async function () {
    const hook = await receiver([{ status: 503 }, { status: 200, hangMs: 2500 }, { status: 200 }]);
    const { log, lines } = memoryLog();
    const webhook = startAlertWebhook({ url: hook.url, log, initialDelayMs: 50, timeoutMs: 1500, instance: 'worker-1' });
    try {
      const at = Date.parse('2026-12-08T04:00:00Z');
      webhook.notify([firing('delivery', { count: 2, ids: ['pas/m1', 'pas/m2'] })], at);
      await webhook.idle();
      assert.equal(hook.hits.length, 3, 'two failures, then the delivery');
      assert.ok(hook.hits[1]!.at - hook.hits[0]!.at >= 50, 'backoff between tries');
      assert.deepEqual(webhook.stats(), { delivered: 1, failed: 0, dropped: 0 });
      const body = hook.hits[2]!.body;
      assert.equal(hook.hits[2]!.headers['content-type'], 'application/json');
      assert.equal(body.version, '4');
      assert.equal(body.status, 'firing');
      assert.deepEqual(body.alerts[0]!.labels, { alertname: 'dead_letters', subject: 'delivery', service: 'bars-bridge', instance: 'worker-1', severity: 'critical' });
      assert.equal(body.alerts[0]!.annotations.ids, 'pas/m1,pas/m2');
      assert.deepEqual(body.alerts[0]!.details.ids, ['pas/m1', 'pas/m2']);
      assert.equal(body.alerts[0]!.startsAt, '2026-12-08T04:00:00.000Z');
      assert.equal(body.alerts[0]!.endsAt, '0001-01-01T00:00:00Z');
      assert.equal(body.text, '[FIRING] bars-bridge dead_letters delivery: count=2 ids=pas/m1,pas/m2 (worker-1)');
      assert.deepEqual(lines.map((l) => [l.level, l.obj.outcome ?? null]), [['warn', 'http-503'], ['warn', 'timeout'], ['info', null]]);
      assert.ok(!JSON.stringify(lines).includes('secret-in-url'), 'the webhook URL (a credential for Slack and Teams) is never logged');
    } finally {
      await webhook.close();
      await hook.close();
    }
  });

  it('keeps order (a resolution never overtakes its firing), honours Retry-After, and gives up on a 4xx at once', async function () {
    const hook = await receiver([{ status: 429, headers: { 'retry-after': '0.3' } }, { status: 200 }, { status: 404 }]);
    const { log, lines } = memoryLog();
    const webhook = startAlertWebhook({ url: hook.url, log, initialDelayMs: 10, attempts: 3 });
    try {
      webhook.notify([firing('delivery')], Date.now());
      webhook.notify([{ alert: 'dead_letters', subject: 'delivery', firing: false, details: { count: 0 }, lastedMs: 60_000 }], Date.now());
      webhook.notify([firing('mapping')], Date.now());
      await webhook.idle();
      assert.deepEqual(hook.hits.map((h) => `${h.body.alerts[0]!.labels.subject}:${h.body.status}`), ['delivery:firing', 'delivery:firing', 'delivery:resolved', 'mapping:firing']);
      assert.ok(hook.hits[1]!.at - hook.hits[0]!.at >= 290, 'Retry-After (0.3 s) honoured over the 10 ms backoff');
      const resolved = hook.hits[2]!.body.alerts[0]!;
      assert.equal(Date.parse(resolved.endsAt) - Date.parse(resolved.startsAt), 60_000, 'a resolution spans how long it fired');
      assert.deepEqual(webhook.stats(), { delivered: 2, failed: 1, dropped: 0 });
      assert.equal(lines.at(-1)!.msg, 'alert webhook gave up (the alert is still in the log and bars_bridge_alert)');
      assert.equal(lines.at(-1)!.obj.outcome, 'http-404');
    } finally {
      await webhook.close();
      await hook.close();
    }
  });

  it('is bounded: a receiver that is down keeps at most maxPending payloads, dropping the oldest', async function () {
    const hook = await receiver(Array.from({ length: 50 }, () => ({ status: 503 })));
    const { log } = memoryLog();
    const webhook = startAlertWebhook({ url: hook.url, log, initialDelayMs: 1000, attempts: 2, maxPending: 3 });
    try {
      for (let i = 0; i < 10; i += 1) {
        webhook.notify([firing(`s${i}`)], Date.now());
      }
      assert.equal(webhook.stats().dropped, 6, 'one in flight, three waiting, six dropped');
    } finally {
      await webhook.close();
      await hook.close();
    }
    assert.equal(webhook.stats().dropped, 9, 'what still waited at close is counted too');
  });

  it('names the dead letters and the stuck lane involved, from real Redis state, in the POST', async function () {
    const redis = testRedis();
    const prefix = uniquePrefix('alerthook');
    const hook = await receiver([]);
    const { log } = memoryLog();
    const webhook = startAlertWebhook({ url: hook.url, log, instance: 'test' });
    const alerts = startAlerts({
      rules: { enabled: true, intervalSeconds: 15, laneHeadMaxAgeSeconds: 1, deadLettersAbove: 0, deadLetterWindowHours: 24, errorRate: 0.05, errorWindowSeconds: 300, errorMinRequests: 20, redisDurability: false, certExpiryDays: 21 },
      sources: {
        lanes: () => laneObservations({ redis, prefix }, ['pas']),
        deadLetters: () => deadLetterObservations(redis, prefix, 24),
      },
      log: { error() {}, info() {}, warn() {}, debug() {} } as never,
      timer: false,
      onChanges: (changes, at) => webhook.notify(changes, at),
    });
    try {
      for (const n of [1, 2, 3]) {
        await enqueueDelivery({ redis, prefix }, { messageId: `m${n}`, destination: 'pas', controlId: `C${n}`, contentType: 'x-application/hl7-v2+er7', text: adt(`C${n}`) });
      }
      await recordDeadLetter({ redis, prefix }, { messageId: 'm9', destination: 'pas', controlId: 'C9', renderedKey: `${prefix}:dlv:text:pas:m9` }, { reason: 'ack-AR' });
      await new Promise((r) => setTimeout(r, 2100)); // the head is now older than laneHeadMaxAgeSeconds (whole seconds)
      await alerts.evaluate();
      await webhook.idle();
      assert.equal(hook.hits.length, 1, 'one POST per evaluation');
      const byName = new Map(hook.hits[0]!.body.alerts.map((a) => [`${a.labels.alertname}/${a.labels.subject}`, a]));
      assert.deepEqual(byName.get('dead_letters/delivery')!.details, { count: 1, ids: ['pas/m9'] });
      const stuck = byName.get('lane_head_stuck/pas')!;
      assert.equal(stuck.details.messageId, 'm1');
      assert.equal(stuck.details.controlId, 'C1');
      assert.equal(stuck.details.waiting, 2);
      assert.match(hook.hits[0]!.body.text, /lane_head_stuck pas: .*messageId=m1 controlId=C1/);
    } finally {
      await alerts.stop();
      await webhook.close();
      await hook.close();
      await redis.quit();
    }
  });
});
