import { strict as assert } from 'node:assert';
import { startHarness, type Harness } from '../helpers/harness.js';

async function get(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.text() };
}

describe('admin server', function () {
  let h: Harness;
  before(async function () {
    h = await startHarness({ worker: true, config: { admin: { host: '127.0.0.1', port: 0, token: 's3cret' } } });
  });
  after(async function () {
    await h.close();
  });

  it('answers /healthz without a token but /readyz and /metrics only with it', async function () {
    const port = h.running.adminPort!;
    assert.equal((await get(port, '/healthz')).status, 200);
    assert.equal((await get(port, '/readyz')).status, 401);
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
  });
});
