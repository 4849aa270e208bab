/*
 * /metrics and /readyz as a scraper and a load balancer see them, over HTTP, through a PAS outage told in the order
 * ops live it: accepted (AA), then refused by the PAS (AR: a dead letter and its record held), then the PAS down
 * (connection refused: messages wait, the head ages). The receiver stays ready throughout, and a second admin server
 * on the same Redis (the web process beside the worker) shows the same shared gauges but none of the worker's counters.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startHarness, TEST_SERVICE_ID, type Harness } from '../../helpers/harness.js';
import { igExample } from '../../external/nhs-material.js';
import { messageBody, waitFor } from '../../helpers/messages.js';
import { parseExposition, type Exposition } from '../../helpers/prometheus.js';
import { buildArrivalA04, sendPasEvent } from '../../../src/dev/pas-sim-events.js';
import { createAdminApp, listenAdmin } from '../../../src/ops/admin.js';
import { createMetrics } from '../../../src/metrics.js';
import { MessageStore } from '../../../src/state/message-store.js';
import { capturingLogger } from '../../helpers/log-sink.js';

const VALREQ01 = igExample('validation-request_new_999-to-CAS_APP4_VALREQ01.json');
const TOKEN = 'metrics-test-token-0123456789';

/** Every metric family issue 16 names, and the ones this module adds. */
const REQUIRED_FAMILIES = [
  'bars_bridge_delivered_total',
  'bars_bridge_delivery_failures_total',
  'bars_bridge_lane_waiting',
  'bars_bridge_lane_head_age_seconds',
  'bars_bridge_dead_letters',
  'bars_bridge_held_records',
  'bars_bridge_held_messages',
  'bars_bridge_link_state',
  'bars_bridge_mapping_failures_total',
  'bars_bridge_pas_events_total',
  'bars_bridge_responses_total',
  'bars_bridge_request_duration_seconds',
  'bars_bridge_requests_total',
  'bars_bridge_process_cpu_user_seconds_total',
];

async function get(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.text() };
}

async function scrape(port: number, token?: string): Promise<Exposition> {
  const res = await get(port, '/metrics', token);
  assert.equal(res.status, 200, res.body);
  return parseExposition(res.body);
}

type Ready = { status: string; destinations?: Array<{ destination: string; state: string; lastAck?: { code: string; text?: string }; delivered5m: number; waiting: number }> };

describe('metrics and readiness over HTTP through a PAS outage', function () {
  this.timeout(60_000);
  let h: Harness;
  let port: number;
  const posted: string[] = [];

  const postReferral = async (): Promise<string> => {
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, messageBody());
    assert.equal(res.status, 200, res.body);
    const resources = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; status?: string; identifier?: Array<{ value: string }> } }> }).entry.map((e) => e.resource);
    const reference = resources.find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value;
    posted.push(reference);
    return reference;
  };
  const until = async (what: string, check: (m: Exposition) => boolean, timeoutMs = 10_000): Promise<Exposition> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = await scrape(port, TOKEN);
      if (check(last)) {
        return last;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async function () {
    h = await startHarness({ worker: true, config: { admin: { host: '127.0.0.1', port: 0, token: TOKEN } } });
    port = h.running.adminPort!;
  });
  after(async function () {
    await h?.close();
  });

  it('exports every family under one bars_bridge_ prefix (no doubled process_process_), with its type', async function () {
    const m = await scrape(port, TOKEN);
    for (const family of REQUIRED_FAMILIES) {
      assert.ok(m.types.has(family), `${family} is exported`);
    }
    assert.equal(m.types.get('bars_bridge_request_duration_seconds'), 'histogram');
    assert.equal(m.types.get('bars_bridge_delivered_total'), 'counter');
    assert.equal(m.types.get('bars_bridge_lane_waiting'), 'gauge');
    for (const name of m.types.keys()) {
      assert.match(name, /^bars_bridge_/, name);
      assert.doesNotMatch(name, /process_process|bars_bridge_bars_bridge/, name);
    }
  });

  it('connected: counts AA per destination, the request histogram by endpoint, a connected link; /readyz reports it', async function () {
    await postReferral();
    const m = await until('two AA', (x) => (x.value('bars_bridge_delivered_total', { destination: 'pas', ack_code: 'AA' }) ?? 0) >= 2);
    assert.ok((m.value('bars_bridge_request_duration_seconds_count', { endpoint: 'POST /$process-message' }) ?? 0) >= 1);
    assert.equal(m.find('bars_bridge_request_duration_seconds_bucket', { endpoint: 'POST /$process-message', le: '+Inf' })[0]?.value, m.value('bars_bridge_request_duration_seconds_count', { endpoint: 'POST /$process-message' }));
    const linked = await until('link connected', (x) => x.value('bars_bridge_link_state', { destination: 'pas', state: 'connected' }) === 1);
    assert.equal(linked.value('bars_bridge_link_state', { destination: 'pas', state: 'refusing' }), 0);
    assert.equal(linked.value('bars_bridge_lane_waiting', { destination: 'pas' }), 0);
    assert.equal(linked.value('bars_bridge_lane_head_age_seconds', { destination: 'pas' }), 0);
    const ready = await get(port, '/readyz', TOKEN);
    assert.equal(ready.status, 200);
    const body = JSON.parse(ready.body) as Ready;
    assert.equal(body.destinations?.[0]?.destination, 'pas');
    assert.equal(body.destinations?.[0]?.state, 'connected');
    assert.equal(body.destinations?.[0]?.lastAck?.code, 'AA');
    assert.ok(body.destinations![0]!.delivered5m >= 2);
    assert.deepEqual(JSON.parse((await get(port, '/readyz')).body), { status: 'ready' }, 'without a credential: the bare verdict');
  });

  it('counts PAS events by result and the BaRS response one causes by outcome', async function () {
    const arrival = `PAS${Date.now()}`;
    const ack = await sendPasEvent({ host: '127.0.0.1', port: h.running.pasEventsPort! }, buildArrivalA04({ controlId: arrival, patientId: '9000000009', visitNumber: posted[0]! }), arrival);
    assert.equal(ack.code, 'AA');
    await until('the PAS event applied', (x) => x.value('bars_bridge_pas_events_total', { result: 'applied' }) === 1);

    // A validation request the PAS picks up (REF^I13) is answered with an interim response through the (mock) proxy.
    const bundle = JSON.parse(readFileSync(VALREQ01, 'utf8')) as { id: string; entry: Array<{ resource: Record<string, unknown> }> };
    bundle.id = randomUUID();
    (bundle.entry[0]!.resource as { destination: Array<{ endpoint: string }> }).destination[0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${TEST_SERVICE_ID}`;
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, JSON.stringify(bundle));
    assert.equal(res.status, 200, res.body);
    const reference = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; status?: string; identifier?: Array<{ value: string }> } }> }).entry
      .map((e) => e.resource)
      .find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value;
    await waitFor(() => h.running.pasSimulator!.received.find((m) => m.text.includes(reference)));
    const pickUp = `PAS${Date.now()}B`;
    const i13 = `MSH|^~\\&|PAS|RXX|BARS|RXX|20261123100000||REF^I13^REF_I12|${pickUp}|P|2.4\rRF1|A|||||${reference}\r`;
    assert.equal((await sendPasEvent({ host: '127.0.0.1', port: h.running.pasEventsPort! }, i13, pickUp)).code, 'AA');
    await until('a response delivered to the (mock) proxy', (x) => x.value('bars_bridge_responses_total', { outcome: 'delivered' }) === 1, 20_000);
    await until('two PAS events applied', (x) => x.value('bars_bridge_pas_events_total', { result: 'applied' }) === 2);
  });

  it('refused by the PAS (AR): rejecting, a dead letter and its record held; the receiver stays ready', async function () {
    h.running.pasSimulator!.setScenario({ ackCode: 'AR' });
    await postReferral(); // its ADT^A05 is refused; its REF^I12 is held behind it
    const m = await until('dead letter and held record', (x) => x.value('bars_bridge_dead_letters', { destination: 'pas' }) === 1 && x.value('bars_bridge_held_records', { destination: 'pas' }) === 1);
    assert.equal(m.value('bars_bridge_held_messages', { destination: 'pas' }), 1);
    assert.equal(m.value('bars_bridge_delivered_total', { destination: 'pas', ack_code: 'AR' }), 1);
    assert.equal(m.value('bars_bridge_link_state', { destination: 'pas', state: 'rejecting' }), 1);
    const ready = await get(port, '/readyz', TOKEN);
    assert.equal(ready.status, 200, 'a PAS refusing messages does not make the receiver unready');
    assert.equal((JSON.parse(ready.body) as Ready).destinations?.[0]?.state, 'rejecting');
    assert.equal((JSON.parse(ready.body) as Ready).destinations?.[0]?.lastAck?.text, undefined, 'no MSA-3 text in /readyz');
  });

  it('PAS down (connection refused): refusing within 10 s, messages wait and the head ages; still ready; the web process sees the same', async function () {
    await h.running.pasSimulator!.close();
    await postReferral();
    const m = await until('refusing', (x) => x.value('bars_bridge_link_state', { destination: 'pas', state: 'refusing' }) === 1, 10_000);
    assert.ok((m.value('bars_bridge_delivery_failures_total', { destination: 'pas', kind: 'connection' }) ?? 0) >= 1);
    const waiting = await until('head waiting with one behind it', (x) => x.value('bars_bridge_lane_waiting', { destination: 'pas' }) === 1 && (x.value('bars_bridge_lane_head_age_seconds', { destination: 'pas' }) ?? 0) > 0);
    const ready = await get(port, '/readyz', TOKEN);
    assert.equal(ready.status, 200, 'the receiver keeps accepting while the PAS is down');
    assert.equal((JSON.parse(ready.body) as Ready).destinations?.[0]?.state, 'refusing');

    // A second admin server on the same Redis, with metrics of its own: what the web process's /metrics shows.
    const redis = new Redis(h.config.redis.url);
    const web = await listenAdmin(
      createAdminApp({
        redis,
        queues: [],
        metrics: createMetrics(),
        log: capturingLogger(),
        credentials: [],
        allowedHosts: [],
        production: false,
        checks: [],
        store: new MessageStore(redis, h.config.redis.prefix),
        destinations: ['pas'],
      }),
      '127.0.0.1',
      0,
    );
    try {
      const other = await scrape(web.port);
      for (const [name, labels] of [
        ['bars_bridge_lane_waiting', { destination: 'pas' }],
        ['bars_bridge_dead_letters', { destination: 'pas' }],
        ['bars_bridge_held_records', { destination: 'pas' }],
        ['bars_bridge_link_state', { destination: 'pas', state: 'refusing' }],
      ] as const) {
        assert.equal(other.value(name, labels), waiting.value(name, labels), `${name} is the same in both processes`);
      }
      assert.ok((other.value('bars_bridge_lane_head_age_seconds', { destination: 'pas' }) ?? 0) > 0);
      assert.equal(other.find('bars_bridge_delivered_total').length, 0, 'counters count only where the work happens');
      const otherReady = JSON.parse((await get(web.port, '/readyz')).body) as Ready;
      assert.equal(otherReady.destinations?.[0]?.state, 'refusing');
      assert.equal(otherReady.destinations?.[0]?.waiting, 1);
    } finally {
      await web.close();
      redis.disconnect();
    }
  });
});
