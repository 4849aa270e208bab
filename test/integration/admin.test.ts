import { strict as assert } from 'node:assert';
import http from 'node:http';
import { Redis } from 'ioredis';
import { startHarness, type Harness } from '../helpers/harness.js';

async function get(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.text() };
}

const VIEWER = 'viewer-token-0123456789';
const OPERATOR = 'operator-token-0123456789';

/** node:http rather than fetch: fetch will not send a Host header of our choosing (the DNS-rebinding probe needs one). */
function request(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('admin server', function () {
  let h: Harness;
  let redis: Redis;
  before(async function () {
    redis = new Redis(process.env.TEST_REDIS_URL!);
    h = await startHarness({ worker: true, config: { admin: { host: '127.0.0.1', port: 0, token: 's3cret', tokens: [`viewer-vic:viewer:${VIEWER}`, `ops-olga:operator:${OPERATOR}`] } } });
  });
  after(async function () {
    redis.disconnect();
    await h.close();
  });

  it('answers /healthz, and /readyz as a bare verdict, without a credential; /metrics and the checks only with one', async function () {
    const port = h.running.adminPort!;
    assert.equal((await get(port, '/healthz')).status, 200);
    const bare = await get(port, '/readyz');
    assert.equal(bare.status, 200, bare.body);
    assert.deepEqual(JSON.parse(bare.body), { status: 'ready' }, 'no Redis version or settings without a credential');
    assert.equal((await get(port, '/metrics')).status, 401);
    assert.equal((await get(port, '/metrics', 'wrong')).status, 401);
    const ready = await get(port, '/readyz', 's3cret');
    assert.equal(ready.status, 200, ready.body);
    const body = JSON.parse(ready.body) as { checks: { redis: { reachable: boolean }; 'inbound worker': boolean } };
    assert.equal(body.checks.redis.reachable, true);
    assert.equal(body.checks['inbound worker'], true);
  });

  it('counts requests by endpoint, status and REC code without ids or query values', async function () {
    await h.send('GET', '/ServiceRequest?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009', h.headers());
    await h.send('GET', '/ServiceRequest/not-a-guid', h.headers());
    const metrics = (await get(h.running.adminPort!, '/metrics', 's3cret')).body;
    assert.match(metrics, /bars_bridge_requests_total\{endpoint="GET \/ServiceRequest",status="200",code=""\} 1/);
    assert.match(metrics, /bars_bridge_requests_total\{endpoint="GET \/ServiceRequest\/\{id\}",status="400",code="REC_BAD_REQUEST"\} 1/);
    assert.doesNotMatch(metrics, /9000000009|not-a-guid/);
    assert.match(metrics, /bars_bridge_queue_jobs\{queue="inbound",state="waiting"\}/);
    assert.match(metrics, /bars_bridge_held_messages\{destination="pas"\} 0/);
  });

  it('serves the queue board read-only: no retry, which would re-render outside the receipt-order sequencer', async function () {
    const port = h.running.adminPort!;
    const auth = { authorization: 'Bearer s3cret' };
    const queues = (await (await fetch(`http://127.0.0.1:${port}/queues/api/queues`, { headers: auth })).json()) as { queues: Array<{ name: string; readOnlyMode: boolean; allowRetries: boolean }> };
    assert.ok(queues.queues.length > 0);
    assert.ok(queues.queues.every((q) => q.readOnlyMode && !q.allowRetries));
    for (const path of ['/queues/api/queues/inbound/retry/failed', '/queues/api/queues/inbound/msg-x/retry']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'PUT', headers: auth });
      assert.equal(res.status, 405, path);
    }
  });

  describe('fails closed (issue 14 item 5)', function () {
    it('the audit actor is the credential name, not an X-Actor header', async function () {
      const port = h.running.adminPort!;
      const key = `probe-${Date.now()}`;
      const res = await request(port, `/api/trace/${key}`, { headers: { authorization: `Bearer ${VIEWER}`, 'x-actor': 'someone-else' } });
      assert.equal(res.status, 200, res.body);
      const audit = (await redis.lrange(`${h.config.redis.prefix}:audit:trace`, 0, -1)).map((l) => JSON.parse(l) as { actor: string; key: string });
      const entry = audit.find((a) => a.key === key);
      assert.equal(entry?.actor, 'viewer-vic');
    });

    it('a host name that is not ours (DNS rebinding) gets 421, on every route', async function () {
      const port = h.running.adminPort!;
      for (const path of ['/healthz', '/readyz', '/metrics', '/api/trace/x']) {
        const res = await request(port, path, { headers: { host: 'attacker.example', authorization: `Bearer ${OPERATOR}` } });
        assert.equal(res.status, 421, path);
      }
      assert.equal((await request(port, '/healthz', { headers: { host: `localhost:${port}` } })).status, 200);
    });

    it('a cross-site text/plain POST (no preflight) is refused, and so is any other origin', async function () {
      const port = h.running.adminPort!;
      const auth = { authorization: `Bearer ${OPERATOR}` };
      const plain = await request(port, '/queues/api/queues/inbound/add', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: '{"name":"x","data":{}}' });
      assert.equal(plain.status, 415, plain.body);
      const foreign = await request(port, '/queues/api/queues/inbound/add', { method: 'POST', headers: { ...auth, 'content-type': 'application/json', origin: 'https://evil.example' }, body: '{}' });
      assert.equal(foreign.status, 403, foreign.body);
    });

    it('a viewer may not change anything; the queue dashboard is read-only even for an operator', async function () {
      const port = h.running.adminPort!;
      const body = JSON.stringify({ name: 'x', data: {} });
      const viewer = await request(port, '/queues/api/queues/inbound/retry/failed', { method: 'PUT', headers: { authorization: `Bearer ${VIEWER}`, 'content-type': 'application/json' }, body });
      assert.equal(viewer.status, 403, viewer.body);
      const before = await redis.keys(`${h.config.redis.prefix}:inbound:*`);
      const operator = await request(port, '/queues/api/queues/inbound/add', { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' }, body });
      assert.ok(operator.status >= 400, `bull-board accepted a write: ${operator.status} ${operator.body}`);
      const after = await redis.keys(`${h.config.redis.prefix}:inbound:*`);
      assert.deepEqual(after.sort(), before.sort(), 'no job added');
    });
  });
});
