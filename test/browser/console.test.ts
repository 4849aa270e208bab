/*
 * The operations console in a real headless Chromium (Debian's /usr/bin/chromium through playwright-core), against a
 * real receiver + worker, Redis and MLLP PAS simulator (issue 16 item 10): log in as operator; the PAS refuses two
 * referrals (AR: dead letters) and then goes down — the destination turns red within 10 s; find the referral by
 * reference and by NHS number; see its HL7 and ACK; PAS back; bulk-replay the dead letters (dry run, confirm); they
 * show delivered; a viewer sees no patient data and the server refuses its actions. Screenshots of every page go to
 * test-output/console/.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { Redis } from 'ioredis';
import { startHarness, type Harness } from '../helpers/harness.js';
import { messageBody, receipt, waitFor } from '../helpers/messages.js';
import { startPasSimulator, type PasSimulator } from '../../src/dev/pas-sim.js';

const CHROMIUM = '/usr/bin/chromium';
const OUT = path.resolve('test-output/console');
const VIEWER = 'viewer-token-0123456789abcdef';
const OPERATOR = 'operator-token-0123456789abcdef';
const NHS_NUMBER = '9000000009';

describe('operations console in a browser', function () {
  this.timeout(120_000);
  let h: Harness;
  let redis: Redis;
  let browser: Browser;
  let operator: BrowserContext;
  let page: Page;
  let base: string;
  let revived: PasSimulator | undefined;
  const references: string[] = [];

  const shot = async (p: Page, name: string): Promise<void> => {
    await p.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  };

  const login = async (p: Page, token: string): Promise<void> => {
    await p.goto(`${base}/`);
    assert.match(p.url(), /\/console\/login$/, 'not logged in: the root sends a browser to the login form');
    await p.fill('input[name=token]', token);
    await Promise.all([p.waitForURL(`${base}/console/`), p.click('button')]);
    await p.waitForSelector('.who');
  };

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
    }
    mkdirSync(OUT, { recursive: true });
    redis = new Redis(process.env.TEST_REDIS_URL!);
    h = await startHarness({
      worker: true,
      // Chromium shares the CPU with Redis and the receiver: the default 800 ms command timeout once expired while it
      // started (full suite on a loaded machine). This test is about the console, not Redis latency under starvation.
      config: { admin: { host: '127.0.0.1', port: 0, tokens: [`vic:viewer:${VIEWER}`, `olga:operator:${OPERATOR}`] }, redis: { commandTimeoutMs: 5000 } },
    });
    base = `http://127.0.0.1:${h.running.adminPort!}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Playwright gives each launch a fresh temporary profile (its own --user-data-dir).
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    operator = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await operator.newPage();
  });

  after(async function () {
    await browser?.close();
    await revived?.close();
    await h?.close();
    redis?.disconnect();
  });

  it('logs in as an operator with a named credential (the session cookie is httpOnly and SameSite=Strict)', async function () {
    const login0 = await browser.newPage();
    await login0.goto(`${base}/console/login`);
    await shot(login0, '01-login');
    await login0.close();
    await login(page, OPERATOR);
    const cookie = (await operator.cookies()).find((c) => c.name === 'bb_console');
    assert.ok(cookie, 'session cookie set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.match(await page.textContent('.who') ?? '', /olga\s+operator/);
  });

  it('the PAS refuses two referrals (AR: dead letters), then goes down: the destination turns red within 10 s', async function () {
    const sim = h.running.pasSimulator!;
    sim.setScenario({ decide: () => ({ kind: 'ack', code: 'AR', text: 'Simulated refusal: unknown consultant' }) });
    for (let i = 0; i < 2; i++) {
      const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, messageBody());
      assert.equal(res.status, 200, res.body);
      references.push(receipt(res.body).reference);
    }
    await waitFor(async () => ((await redis.zcard(`${h.config.redis.prefix}:dlv:dead`)) >= 2 ? true : undefined), 20_000);
    await sim.close(); // connection refused from now on
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, messageBody());
    assert.equal(res.status, 200, res.body);
    references.push(receipt(res.body).reference);
    await page.goto(`${base}/console/`);
    const started = Date.now();
    // htmx refreshes the table every 2 s; the row turns red when the link state is refusing.
    await page.waitForSelector('tr.dest.bad[data-destination="pas"] [data-state="refusing"]', { timeout: 10_000 });
    assert.ok(Date.now() - started <= 10_000);
    await shot(page, '02-destinations-pas-down');
    await page.click('a[href="/console/destinations/pas"]');
    await page.waitForSelector('h1');
    assert.match(await page.textContent('main') ?? '', /Held behind a dead letter/);
    await shot(page, '03-destination-lane');
    await page.goto(`${base}/console/alerts`);
    const alerts = await page.textContent('#alerts');
    assert.match(alerts ?? '', /link_refusing/);
    assert.match(alerts ?? '', /dead_letters[\s\S]*\.referral-new\.adt-a05/, 'the alert names the dead letters involved');
    assert.match(await page.textContent('main') ?? '', /Recent alerts/);
    await shot(page, '13-alerts');
  });

  it('finds the referral by our reference and by NHS number, and shows its HL7 and the ACK', async function () {
    await page.goto(`${base}/console/messages?key=${encodeURIComponent(references[0]!)}`);
    const byReference = await page.$$('#messages tbody tr');
    assert.equal(byReference.length, 1, 'one message for the reference');
    assert.match(await page.textContent('#messages') ?? '', /dead-lettered/);
    await shot(page, '04-messages-by-reference');
    await page.goto(`${base}/console/messages`);
    await page.fill('input[name=key]', NHS_NUMBER);
    await Promise.all([page.waitForURL(/key=9000000009/), page.click('form.filters button')]);
    const byNhs = await page.$$('#messages tbody tr');
    assert.ok(byNhs.length >= 3, `every referral of the patient (got ${byNhs.length})`);
    await shot(page, '05-messages-by-nhs-number');
    await page.goto(`${base}/console/messages?key=${encodeURIComponent(references[0]!)}`);
    await Promise.all([page.waitForURL(/\/console\/messages\/[0-9a-f-]{36}$/), page.click('#messages tbody tr a')]);
    const hl7 = await page.textContent('pre.hl7');
    assert.match(hl7 ?? '', /^MSH\|/m, 'the HL7 we sent, segment per line');
    assert.match(hl7 ?? '', /PID\|/);
    const title = await page.getAttribute('pre.hl7 .seg:first-child .f[title^="MSH-10 "]', 'title');
    assert.match(title ?? '', /^MSH-10 Message Control ID/i, 'fields are labelled from the v2.4 dictionary');
    const acks = await page.textContent('table.acks');
    assert.match(acks ?? '', /AR/);
    assert.match(acks ?? '', /Simulated refusal/);
    assert.ok(await page.$('.json details'), 'the Bundle, collapsible');
    await shot(page, '06-message-detail');
    const audit = await redis.lrange(`${h.config.redis.prefix}:audit:trace`, 0, -1);
    assert.ok(audit.some((e) => (JSON.parse(e) as { actor: string; key: string }).actor === 'olga' && JSON.parse(e).key === NHS_NUMBER), 'the NHS number search is audited under the credential name');
    assert.ok(audit.some((e) => (JSON.parse(e) as { key: string }).key.startsWith('message ')), 'the PHI view is audited');
  });

  it('PAS back: bulk-replays the dead letters after a dry-run count and a confirmation; they show delivered', async function () {
    revived = await startPasSimulator({ host: h.config.pas.host, port: h.config.pas.port });
    await page.goto(`${base}/console/`);
    await page.waitForSelector('tr.dest[data-destination="pas"]:not(.bad)', { timeout: 20_000 });
    await page.goto(`${base}/console/dead-letters`);
    assert.equal(await page.textContent('#dead-count'), '2');
    await shot(page, '07-dead-letters');
    await page.fill('form.actions input[name=reason]', 'PAS consultant table fixed');
    await Promise.all([page.waitForURL(/\/console\/dead-letters\/bulk$/), page.click('form.actions button')]);
    assert.equal(await page.textContent('#dry-count'), '2', 'dry run counts first');
    assert.equal(await redis.zcard(`${h.config.redis.prefix}:dlv:dead`), 2, 'the dry run changed nothing');
    await shot(page, '08-bulk-replay-dry-run');
    await Promise.all([page.waitForNavigation(), page.click('#confirm-bulk')]);
    assert.match(await page.textContent('.notice') ?? '', /2 dead letter\(s\) replayed/);
    await shot(page, '09-bulk-replay-done');
    for (const reference of references) {
      await waitFor(async () => {
        await page.goto(`${base}/console/messages?key=${encodeURIComponent(reference)}`);
        return /delivered/.test((await page.textContent('#messages tbody tr td:nth-child(5)')) ?? '') ? true : undefined;
      }, 20_000);
    }
    await page.goto(`${base}/console/messages?status=delivered`);
    assert.equal((await page.$$('#messages tbody tr')).length, 3);
    await shot(page, '10-messages-delivered');
    const auditRows = await redis.lrange(`${h.config.redis.prefix}:dlv:audit`, 0, -1);
    assert.equal(auditRows.filter((e) => JSON.parse(e).actor === 'olga' && JSON.parse(e).action === 'replay' && /PAS consultant table fixed/.test(JSON.parse(e).detail)).length, 2);
  });

  it('shows the other pages: PAS events and responses, mappings with a preview and FHIRPath, alerts, audit', async function () {
    await page.goto(`${base}/console/events`);
    await shot(page, '11-events-responses');
    await page.goto(`${base}/console/mappings`);
    assert.ok((await page.$$('table.grid tbody tr')).length > 0, 'the set on disk');
    assert.match(await page.textContent('main') ?? '', /Active in the workers: \d+ mapping\(s\), hash [0-9a-f]{16}, loaded 20\d\d-/, 'the set the worker reported it runs');
    await page.selectOption('form[action="/console/mappings/preview"] select[name=mapping]', 'referral-new.adt-a05');
    await page.fill('form[action="/console/mappings/preview"] input[name=key]', references[0]!);
    await page.check('form[action="/console/mappings/preview"] input[name=explain]');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/console/mappings/preview"] button')]);
    assert.match(await page.textContent('pre.hl7') ?? '', /^MSH\|/m);
    await shot(page, '12-mappings-preview');
    await page.fill('form[action="/console/mappings/fhirpath"] input[name=expression]', "%patient.identifier.where(system='https://fhir.nhs.uk/Id/nhs-number').value");
    await page.fill('form[action="/console/mappings/fhirpath"] input[name=key]', references[0]!);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/console/mappings/fhirpath"] button')]);
    assert.match(await page.textContent('#fhirpath-result') ?? '', /9000000009/);
    await page.goto(`${base}/console/audit`);
    assert.match(await page.textContent('main') ?? '', /olga/);
    await shot(page, '14-audit');
  });

  it('a viewer sees ids and states but no patient data, and the server refuses its searches by NHS number and its actions', async function () {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const v = await ctx.newPage();
      await login(v, VIEWER);
      await v.goto(`${base}/console/messages?key=${encodeURIComponent(references[0]!)}`);
      await Promise.all([v.waitForURL(/\/console\/messages\/[0-9a-f-]{36}$/), v.click('#messages tbody tr a')]);
      assert.equal(await v.$('pre.hl7'), null, 'no HL7');
      assert.equal(await v.$('.json'), null, 'no Bundle');
      assert.equal(await v.$('form[action="/console/actions/reprocess"]'), null, 'no action buttons');
      assert.doesNotMatch(await v.content(), /9000000009|Simulated refusal/);
      await shot(v, '15-viewer-message');
      const nhs = await v.goto(`${base}/console/messages?key=${NHS_NUMBER}`);
      assert.equal(nhs?.status(), 403);
      // The server refuses, not only the page: a well-formed same-origin post with the viewer's own CSRF token.
      const csrf = await v.getAttribute('input[name=_csrf]', 'value');
      // A string, not a function: tsx's name helpers do not exist in the page.
      const token = encodeURIComponent(csrf ?? '');
      const status = (await v.evaluate(`Promise.all([
        ['/console/dead-letters/bulk', 'action=replay&reason=viewer+try&confirm=yes'],
        ['/console/actions/reprocess', 'key=x&reason=viewer+try'],
        ['/console/mappings/preview', 'mapping=x&key=x'],
      ].map(([url, body]) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: '_csrf=${token}&' + body }).then((r) => r.status)))`)) as number[];
      assert.deepEqual(status, [403, 403, 403]);
      // And an operator's post without the CSRF token is refused too.
      const noToken = await page.evaluate(`fetch('/console/actions/reprocess', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'key=x&reason=abc' }).then((r) => r.status)`);
      assert.equal(noToken, 403);
    } finally {
      await ctx.close();
    }
  });

  it('logs out: the session is gone from Redis and the console asks for a login again', async function () {
    await Promise.all([page.waitForURL(/\/console\/login$/), page.click('.who button')]);
    await page.goto(`${base}/console/messages`);
    assert.match(page.url(), /\/console\/login$/);
  });
});
