import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startMockProxy, type MockProxy } from '../../../src/dev/mock-proxy.js';
import { createHttpPost } from '../../../src/flows/responses/http.js';
import { createTokenClient, TokenError } from '../../../src/flows/responses/token.js';

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privatePem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }) as string;

describe('responses: signed-JWT token client', function () {
  let proxy: MockProxy;
  before(async function () {
    proxy = await startMockProxy({ publicKey: publicPem, clientId: 'app-123', kid: 'test-1' });
  });
  after(async function () {
    await proxy.close();
  });
  const client = (over: Partial<Parameters<typeof createTokenClient>[0]> = {}) =>
    createTokenClient({ tokenUrl: proxy.tokenUrl, clientId: 'app-123', kid: 'test-1', privateKey: privatePem, post: createHttpPost({ ca: proxy.ca }), ...over });

  it('signs the client assertion RS512 with kid, iss = sub = client id, aud = token URL, jti, exp ≤ 5 min', async function () {
    const jwt = await client().assertion();
    assert.deepEqual(decodeProtectedHeader(jwt), { alg: 'RS512', typ: 'JWT', kid: 'test-1' });
    const claims = decodeJwt(jwt);
    assert.equal(claims.iss, 'app-123');
    assert.equal(claims.sub, 'app-123');
    assert.equal(claims.aud, proxy.tokenUrl);
    assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(claims.exp! > now && claims.exp! <= now + 300);
    assert.notEqual(decodeJwt(await client().assertion()).jti, claims.jti, 'a new jti every time');
  });

  it('accepts a PKCS#1 key too', async function () {
    const pkcs1 = keys.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    assert.ok(await client({ privateKey: pkcs1 }).getToken());
  });

  it('obtains a token that the mock platform verified, and caches it', async function () {
    const c = client();
    const before = proxy.tokenRequests.length;
    const [a, b] = await Promise.all([c.getToken(), c.getToken()]);
    assert.equal(a, b);
    assert.equal(await c.getToken(), a);
    assert.equal(proxy.tokenRequests.length - before, 1, 'one token request for concurrent and later callers');
    assert.equal(proxy.tokenRequests.at(-1)!.ok, true);
  });

  it('refreshes shortly before expiry', async function () {
    let clock = Date.now();
    let n = 0;
    // A stub transport: the mock platform would (rightly) refuse assertions signed with a clock minutes ahead.
    const post = Object.assign(
      async () => ({ status: 200, headers: {}, body: JSON.stringify({ access_token: `t${++n}`, expires_in: '599', token_type: 'Bearer' }) }),
      { close: () => undefined },
    );
    const c = client({ now: () => clock, refreshMarginSeconds: 30, post });
    const first = await c.getToken();
    clock += 560_000; // 599 s token, 30 s margin: still valid at +560 s
    assert.equal(await c.getToken(), first);
    clock += 10_000;
    assert.notEqual(await c.getToken(), first);
  });

  it('fetches a new token after invalidate (a 401 from the proxy)', async function () {
    const c = client();
    const first = await c.getToken();
    c.invalidate('some-other-token');
    assert.equal(await c.getToken(), first, 'invalidating a token we no longer hold changes nothing');
    c.invalidate(first);
    assert.notEqual(await c.getToken(), first);
  });

  it('the platform refuses a wrong key, kid or client id; the client reports TokenError with the status', async function () {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    for (const over of [{ privateKey: other }, { kid: 'nope' }, { clientId: 'other-app' }]) {
      await assert.rejects(client(over).getToken(), (err: unknown) => err instanceof TokenError && err.status === 400);
    }
    assert.equal(proxy.tokenRequests.at(-1)!.ok, false);
  });

  it('reports an unreachable token endpoint as TokenError without status', async function () {
    await assert.rejects(client({ tokenUrl: 'https://127.0.0.1:1/oauth2/token' }).getToken(), (err: unknown) => err instanceof TokenError && err.status === undefined);
  });
});
