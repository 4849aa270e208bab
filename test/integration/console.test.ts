/*
 * The console's guards over plain HTTP (the browser test covers the pages): login, session cookie and its storage,
 * expiry, the origin and CSRF checks on every form post, and roles.
 */
import { strict as assert } from 'node:assert';
import http from 'node:http';
import { Redis } from 'ioredis';
import { startHarness, type Harness } from '../helpers/harness.js';
import { MirrorStore } from '../../src/state/diary-mirror.js';
import { parseCredentials } from '../../src/ops/admin-auth.js';
import { createSession, readSession, SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS } from '../../src/console/session.js';

const VIEWER = 'viewer-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function request(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('console sessions, CSRF and roles', function () {
  let h: Harness;
  let redis: Redis;
  let port: number;
  let origin: string;
  const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
  const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> =>
    request(port, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin, ...headers }, body: form(fields) });
  const login = async (token: string): Promise<{ cookie: string; csrf: string }> => {
    const res = await post('/console/login', { token });
    assert.equal(res.status, 303, res.body);
    const cookie = String(res.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
    const page = await request(port, '/console/', { headers: { cookie } });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    return { cookie, csrf };
  };

  before(async function () {
    redis = new Redis(process.env.TEST_REDIS_URL!);
    h = await startHarness({ worker: false, config: { admin: { host: '127.0.0.1', port: 0, tokens: [`vic:viewer:${VIEWER}`, `ada:admin:${ADMIN}`] } } });
    port = h.running.adminPort!;
    origin = `http://127.0.0.1:${port}`;
  });
  after(async function () {
    redis.disconnect();
    await h.close();
  });

  it('sends a browser from / to the console and, without a session, to the login form; htmx gets 401', async function () {
    assert.equal((await request(port, '/')).headers.location, '/console/');
    assert.equal((await request(port, '/console/messages')).headers.location, '/console/login');
    assert.equal((await request(port, '/console/fragments/overview', { headers: { 'hx-request': 'true' } })).status, 401);
    const loginPage = await request(port, '/console/login');
    assert.equal(loginPage.status, 200);
    assert.match(loginPage.body, /type="password" name="token"/);
    assert.equal((await request(port, '/console/static/htmx.min.js')).status, 200, 'htmx served from this port');
    assert.match((await request(port, '/console/static/console.css')).body, /--bad/);
  });

  it('refuses a wrong credential; a right one gets an httpOnly SameSite=Strict cookie whose id is stored hashed with an idle TTL', async function () {
    const wrong = await post('/console/login', { token: 'not-a-credential-at-all' });
    assert.equal(wrong.status, 401);
    const res = await post('/console/login', { token: VIEWER });
    assert.equal(res.status, 303);
    const cookie = String(res.headers['set-cookie']?.[0]);
    assert.match(cookie, /^bb_console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/, 'no Secure over plain HTTP');
    const id = /^bb_console=([^;]+)/.exec(cookie)![1]!;
    const keys = await redis.keys(`${h.config.redis.prefix}:console:session:*`);
    assert.ok(keys.length >= 1);
    assert.ok(keys.every((k) => !k.includes(id)), 'the session id is not in any key name');
    const ttl = await redis.ttl(keys[0]!);
    assert.ok(ttl > 0 && ttl <= SESSION_IDLE_SECONDS, `idle TTL ${ttl}`);
    assert.ok(!(await redis.hgetall(keys[0]!)).token, 'the credential is not stored');
  });

  it('form posts need this origin and the session CSRF token', async function () {
    const { cookie, csrf } = await login(ADMIN);
    assert.ok(csrf.length > 20);
    const body = { key: 'nothing-here', reason: 'check', dryRun: '1' };
    const noOrigin = await request(port, '/console/actions/reprocess', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: form({ ...body, _csrf: csrf }) });
    assert.equal(noOrigin.status, 403, 'no Origin or Referer');
    assert.equal((await post('/console/actions/reprocess', { ...body, _csrf: csrf }, { cookie, origin: 'http://evil.example' })).status, 403, 'another origin');
    assert.equal((await post('/console/actions/reprocess', body, { cookie })).status, 403, 'no token');
    assert.equal((await post('/console/actions/reprocess', { ...body, _csrf: `${csrf.slice(0, -1)}x` }, { cookie })).status, 403, 'wrong token');
    const ok = await post('/console/actions/reprocess', { ...body, _csrf: csrf }, { cookie });
    assert.notEqual(ok.status, 403, ok.body);
    const noReason = await post('/console/actions/reprocess', { key: 'x', _csrf: csrf }, { cookie });
    assert.equal(noReason.status, 400, 'an action needs a reason');
  });

  it('a viewer gets 403 from every action and PHI route; the admin role parses and acts', async function () {
    const { cookie, csrf } = await login(VIEWER);
    for (const path of ['/console/actions/replay', '/console/actions/drop', '/console/actions/reprocess', '/console/dead-letters/bulk', '/console/responses/act', '/console/mappings/preview', '/console/mappings/fhirpath']) {
      assert.equal((await post(path, { _csrf: csrf, reason: 'try', key: 'x' }, { cookie })).status, 403, path);
    }
    assert.equal((await request(port, '/console/messages?key=9000000009', { headers: { cookie } })).status, 403);
    assert.deepEqual(parseCredentials(undefined, [`ada:admin:${ADMIN}`]).map((c) => c.role), ['admin']);
  });

  it('a page that cannot be read (here an unreadable stored message) answers 503 in the console layout, not a bare 500', async function () {
    const { cookie } = await login(ADMIN);
    // The same path as a Redis command timing out under load: the read throws, the error page answers.
    await redis.set(`${h.config.redis.prefix}:msg:broken-message`, '{not json');
    const res = await request(port, '/console/messages/broken-message', { headers: { cookie } });
    assert.equal(res.status, 503);
    assert.match(res.body, /could not be read just now/);
    assert.match(res.body, /class="who"/, 'with the navigation');
  });

  it('logs out (the session is deleted) and a session past its absolute lifetime is gone', async function () {
    const { cookie, csrf } = await login(VIEWER);
    assert.equal((await post('/console/logout', { _csrf: csrf }, { cookie })).status, 303);
    assert.equal((await request(port, '/console/', { headers: { cookie } })).headers.location, '/console/login');
    const prefix = h.config.redis.prefix;
    const { id } = await createSession(redis, prefix, { actor: 'x', role: 'viewer' }, Date.now() - SESSION_MAX_SECONDS * 1000 - 1);
    assert.equal(await readSession(redis, prefix, id), undefined);
    const fresh = await createSession(redis, prefix, { actor: 'y', role: 'operator' });
    assert.equal((await readSession(redis, prefix, fresh.id))?.actor, 'y');
  });
  it('shows the PAS diary to a viewer: mirror age per clinic and the booking conflicts, ids only', async function () {
    const { cookie } = await login(VIEWER);
    const prefix = h.config.redis.prefix;
    const mirror = new MirrorStore(redis, prefix);
    const now = Date.now();
    await mirror.markSeen('feed', 'hcs-diary-page', now - 120_000);
    await mirror.recordConflict(
      { id: 'conflict-page-1', kind: 'pas-refused', at: new Date(now).toISOString(), healthcareService: 'hcs-diary-page', appointments: ['appt-page-1'], controlId: 'BBPAGE0001', messageId: 'msg-page-1', reason: 'ack-AR' },
      now,
    );
    const res = await request(port, '/console/diary', { headers: { cookie } });
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /id="diary-age"[\s\S]*hcs-diary-page[\s\S]*2 min ago/);
    assert.match(res.body, /id="diary-conflicts"[\s\S]*pas-refused[\s\S]*appt-page-1[\s\S]*BBPAGE0001[\s\S]*ack-AR/);
  });
  it('one dead letter: replay and drop need a reason (400), and say why when there is no such dead letter (409)', async function () {
    const { cookie, csrf } = await login(ADMIN);
    for (const action of ['replay', 'drop']) {
      const none = await post(`/console/actions/${action}`, { _csrf: csrf, destination: 'pas', deliveryId: 'no-such.referral-new.adt-a05' }, { cookie });
      assert.equal(none.status, 400, action);
      assert.match(none.body, /Every action needs a reason/);
      const missing = await post(`/console/actions/${action}`, { _csrf: csrf, destination: 'pas', deliveryId: 'no-such.referral-new.adt-a05', reason: 'test' }, { cookie });
      assert.equal(missing.status, 409, action);
      assert.match(missing.body, action === 'replay' ? /Not replayed/ : /Not dropped/);
      assert.match(missing.body, /href="\/console\/messages\/no-such"/, 'a way back to the message');
    }
  });
});
