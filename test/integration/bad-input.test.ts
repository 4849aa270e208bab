/*
 * Malformed and hostile input (issue 7 §6): truncated and deeply nested JSON, oversized bodies, wrong content types and
 * encodings, broken NHSD-* headers, header injection, huge arrays, unicode everywhere and random mutations of a valid
 * referral. The contract for every answer: 200, or a 4xx OperationOutcome with a REC_ code and a diagnostic — never a
 * 5xx, never a stack trace — with X-Request-Id echoed whenever it was a valid UUID. After the run the store holds a
 * message for each 200 and nothing else, no request is left "in flight", and the receiver still takes a valid referral.
 * Property runs are bounded (≤ 200 each) so the file stays well under a minute.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { startHarness, testCerts, type Harness } from '../helpers/harness.js';
import { IG_EXAMPLES_DIR, loadJson, prepare, waitUntilStoreReady } from '../helpers/bars-examples.js';
import type { Bundle, OperationOutcome } from '../helpers/profile-validator.js';
import type { SendResult } from '../../src/dev/send.js';
import { b64 } from '../../src/dev/send.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STACK = /\n\s+at \S|node_modules|\.[tj]s:\d+|\bTypeError\b|\bReferenceError\b|\bSyntaxError\b/;
const RUNS = 200;

const REFERRAL = loadJson(`${IG_EXAMPLES_DIR}/referral-request_new_111-to-ED_APP1_REFREQ01.json`);

describe('bad and hostile input', function () {
  this.timeout(60_000);
  let h: Harness;
  let redis: Redis;
  let accepted = 0;
  let answered = 0;

  before(async function () {
    h = await startHarness();
    await waitUntilStoreReady(h);
    redis = new Redis(process.env.TEST_REDIS_URL!, { lazyConnect: false });
  });
  after(async function () {
    redis?.disconnect();
    await h?.close();
  });

  /** Checks the answer contract; returns the status. */
  function check(res: SendResult, sentRequestId: string | undefined, label: string, allow200 = true): number {
    answered++;
    const detail = `${label}: ${res.status} ${res.body.slice(0, 300)}`;
    assert.ok(res.status < 500, `never 5xx — ${detail}`);
    assert.doesNotMatch(res.body, STACK, `no stack trace — ${detail}`);
    if (sentRequestId && UUID.test(sentRequestId)) {
      assert.equal(res.headers['x-request-id'], sentRequestId, `X-Request-Id echoed — ${detail}`);
    } else if (res.headers['x-request-id'] !== undefined) {
      // Not a UUID: echoed only when it is safe to mirror (printable ASCII, ≤ 128 chars), and then unchanged.
      assert.match(String(res.headers['x-request-id']), /^[\x21-\x7e]{1,128}$/, `echo is safe — ${detail}`);
      assert.equal(res.headers['x-request-id'], sentRequestId?.trim(), `echo is what was sent (HTTP trims whitespace) — ${detail}`);
    }
    assert.equal(res.headers['set-cookie'], undefined, `no injected headers — ${detail}`);
    if (res.status === 200) {
      assert.ok(allow200, `expected a refusal — ${detail}`);
      accepted++;
      return 200;
    }
    assert.ok(res.status >= 400 && res.status < 500, `4xx — ${detail}`);
    assert.match(String(res.headers['content-type']), /^application\/fhir\+json/, detail);
    const oo = JSON.parse(res.body) as OperationOutcome;
    assert.equal(oo.resourceType, 'OperationOutcome', detail);
    const issue = oo.issue?.[0];
    assert.equal(issue?.severity, 'error', detail);
    assert.match(issue?.details?.coding?.[0]?.code ?? '', /^REC_[A-Z_]+$/, detail);
    assert.ok((issue?.diagnostics ?? '').length > 5, `diagnostics — ${detail}`);
    return res.status;
  }

  async function post(body: string | Buffer, headers: Record<string, string> = {}, label = 'post', allow200 = true): Promise<number> {
    const all: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json', ...headers };
    const res = await h.send('POST', '/$process-message', all, body);
    return check(res, all['X-Request-Id'], label, allow200);
  }

  const referral = (): Bundle => prepare(REFERRAL);

  describe('bodies', function () {
    it('a valid referral is accepted (baseline)', async function () {
      assert.equal(await post(JSON.stringify(referral()), {}, 'baseline'), 200);
    });

    it(`truncated JSON → 400 (${RUNS} cut points)`, async function () {
      const text = JSON.stringify(referral());
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: text.length - 1 }), async (cut) => {
          const body = JSON.stringify({ ...referral() }).slice(0, cut);
          const status = await post(body, {}, `truncated at ${cut}`, false);
          assert.equal(status, 400);
        }),
        { numRuns: RUNS },
      );
    });

    it('deeply nested JSON: 10,000 and 100,000 levels at the top and inside a resource → 400', async function () {
      for (const n of [10_000, 100_000]) {
        assert.equal(await post('['.repeat(n) + ']'.repeat(n), {}, `array ${n}`, false), 400);
        assert.equal(await post('{"a":'.repeat(n) + '1' + '}'.repeat(n), {}, `object ${n}`, false), 400);
        const inside = JSON.stringify(referral()).replace('"patientInstruction":', `"x":${'{"a":'.repeat(n)}1${'}'.repeat(n)},"patientInstruction":`);
        assert.equal(await post(inside, {}, `inside ${n}`, false), 400);
      }
    });

    it('bodies over the 5 MB limit → 4xx too-costly (10 MB of junk, a 6 MB valid-looking referral, a 50 MB gzip bomb)', async function () {
      const big = referral() as Bundle & { pad?: string };
      big.pad = 'x'.repeat(6 * 1024 * 1024);
      for (const [label, body, headers] of [
        ['10 MB', Buffer.alloc(10 * 1024 * 1024, 'x'), {}],
        ['6 MB referral', JSON.stringify(big), {}],
        ['gzip bomb', gzipSync(Buffer.alloc(50 * 1024 * 1024, ' ')), { 'Content-Encoding': 'gzip' }],
      ] as const) {
        const all: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json', ...headers };
        const res = await h.send('POST', '/$process-message', all, body);
        assert.equal(check(res, all['X-Request-Id'], label, false), 400);
        assert.equal((JSON.parse(res.body) as OperationOutcome).issue![0]!.code, 'too-costly', label);
      }
    });

    it('a gzip-compressed valid referral is accepted', async function () {
      assert.equal(await post(gzipSync(JSON.stringify(referral())), { 'Content-Encoding': 'gzip' }, 'gzip'), 200);
    });

    it('corrupt compressed bodies (garbage or truncated gzip, garbage deflate/br) → 400 REC_BAD_REQUEST', async function () {
      for (const [label, body, enc] of [
        ['garbage gzip', Buffer.from('not gzip at all'), 'gzip'],
        ['truncated gzip', gzipSync(JSON.stringify(referral())).subarray(0, 200), 'gzip'],
        ['garbage deflate', Buffer.from('not deflate'), 'deflate'],
        ['garbage br', Buffer.from('not brotli'), 'br'],
      ] as const) {
        assert.equal(await post(body, { 'Content-Encoding': enc }, label, false), 400);
      }
    });

    it('an unknown Content-Encoding → 415', async function () {
      assert.equal(await post('abcd', { 'Content-Encoding': 'compress' }, 'compress', false), 415);
    });

    it('wrong content types → 415; XML media type with a JSON body → 400', async function () {
      const body = JSON.stringify(referral());
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            'text/plain',
            'application/xml',
            'text/xml',
            'text/html; charset=utf-8',
            'multipart/form-data; boundary=x',
            'application/x-www-form-urlencoded',
            'application/octet-stream',
            'application/fhir+json2',
            'image/png',
            'application/javascript',
          ),
          async (type) => {
            assert.equal(await post(body, { 'Content-Type': type }, type, false), 415);
          },
        ),
        { numRuns: 20 },
      );
      assert.equal(await post(body, { 'Content-Type': 'application/fhir+xml' }, 'xml with json', false), 400);
    });

    it('huge arrays: 300,000 empty entries, 20,000 MessageHeaders, a 1,000,000-number array → 400; 100,000 codings in a valid referral → answered within the 5 s budget', async function () {
      const entries = referral();
      entries.entry = Array.from({ length: 300_000 }, () => ({}));
      assert.equal(await post(JSON.stringify(entries), {}, '300k entries', false), 400);
      const headers = referral();
      const mh = headers.entry![0]!;
      headers.entry = [mh, ...Array.from({ length: 20_000 }, () => structuredClone(mh))];
      assert.equal(await post(JSON.stringify(headers), {}, '20k MessageHeaders', false), 400);
      assert.equal(await post(`[${Array.from({ length: 1_000_000 }, (_, i) => i % 10).join(',')}]`, {}, 'number array', false), 400);
      const codings = referral();
      const sr = codings.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource!;
      const category = (sr.category as Array<{ coding: unknown[] }>)[0]!;
      category.coding.push(...Array.from({ length: 100_000 }, (_, i) => ({ system: 'https://example.org/junk', code: `c${i}` })));
      const started = Date.now();
      await post(JSON.stringify(codings), {}, '100k codings');
      assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
    });

    it('prototype-pollution keys (__proto__, constructor.prototype) are inert', async function () {
      const b = JSON.stringify(referral()).replace(
        '"patientInstruction":',
        '"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"patientInstruction":',
      );
      await post(b, {}, '__proto__');
      const header = `{"__proto__":{"polluted":"yes"},"resourceType":"Organization","identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"A1001"}]}`;
      await post(JSON.stringify(referral()), { 'NHSD-End-User-Organisation': Buffer.from(header).toString('base64') }, '__proto__ header');
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
    });

    it(`random mutation of a valid referral → 200 or a 4xx OperationOutcome (${RUNS} runs)`, async function () {
      type Op = 'delete' | 'replace' | 'null' | 'duplicate' | 'empty';
      const mutate = (doc: unknown, path: number[], op: Op, value: unknown): unknown => {
        const root = structuredClone(doc) as Record<string, unknown>;
        let parent: Record<string, unknown> | unknown[] = root;
        let key: string | number | undefined;
        for (const step of path) {
          const node: unknown = key === undefined ? root : (parent as Record<string, unknown>)[key as string];
          if (!node || typeof node !== 'object') {
            break;
          }
          const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
          if (keys.length === 0) {
            break;
          }
          parent = node as Record<string, unknown>;
          key = keys[step % keys.length];
        }
        if (key === undefined) {
          return value;
        }
        const p = parent as Record<string, unknown>;
        switch (op) {
          case 'delete':
            if (Array.isArray(parent)) {
              parent.splice(key as number, 1);
            } else {
              delete p[key as string];
            }
            break;
          case 'replace':
            p[key as string] = value;
            break;
          case 'null':
            p[key as string] = null;
            break;
          case 'duplicate':
            if (Array.isArray(parent)) {
              parent.push(structuredClone(parent[key as number]));
            } else {
              p[`${String(key)}_`] = p[key as string];
            }
            break;
          case 'empty':
            p[key as string] = Array.isArray(p[key as string]) ? [] : {};
            break;
        }
        return root;
      };
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.nat(), { minLength: 1, maxLength: 9 }),
          fc.constantFrom<Op>('delete', 'replace', 'null', 'duplicate', 'empty'),
          fc.jsonValue({ maxDepth: 2 }),
          async (path, op, value) => {
            const doc = mutate(referral(), path, op, value);
            await post(JSON.stringify(doc), {}, `mutation ${op} at ${path.join('.')}`);
          },
        ),
        { numRuns: RUNS },
      );
    });

    const anyUnicode = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
      fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 4 }),
      fc.constantFrom('\u0000', '\u202e', '\ufeff', '🏥', 'ẞ', '\u0301e', 'A'.repeat(5000), '<script>alert(1)</script>', "'; DROP TABLE x; --"),
    );

    it(`one random string anywhere replaced by random unicode → 200 or a 4xx OperationOutcome (${RUNS} runs)`, async function () {
      const strings: Array<Array<string | number>> = [];
      const walk = (node: unknown, path: Array<string | number>): void => {
        if (typeof node === 'string') {
          strings.push(path);
        } else if (Array.isArray(node)) {
          node.forEach((n, i) => walk(n, [...path, i]));
        } else if (node && typeof node === 'object') {
          Object.entries(node).forEach(([k, v]) => walk(v, [...path, k]));
        }
      };
      walk(referral(), []);
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: strings.length - 1 }), anyUnicode, async (i, text) => {
          const doc = referral() as unknown as Record<string | number, unknown>;
          const path = strings[i]!;
          let node = doc;
          for (const step of path.slice(0, -1)) {
            node = node[step] as Record<string | number, unknown>;
          }
          node[path[path.length - 1]!] = text;
          await post(JSON.stringify(doc), {}, `unicode at ${path.join('.')}`);
        }),
        { numRuns: RUNS },
      );
    });

    it('every string replaced by unicode (resourceType kept) → 4xx', async function () {
      await fc.assert(
        fc.asyncProperty(anyUnicode, async (text) => {
          const replace = (node: unknown, key?: string): unknown =>
            typeof node === 'string'
              ? key === 'resourceType'
                ? node
                : text
              : Array.isArray(node)
                ? node.map((n) => replace(n))
                : node && typeof node === 'object'
                  ? Object.fromEntries(Object.entries(node).map(([k, v]) => [k, replace(v, k)]))
                  : node;
          await post(JSON.stringify(replace(referral())), {}, 'all strings unicode', false);
        }),
        { numRuns: 30 },
      );
    });

    it('a C0 control character other than tab, CR or LF in a FHIR string is 400 value naming the element', async function () {
      const doc = referral() as Bundle;
      const sr = doc.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource! as { patientInstruction?: string };
      sr.patientInstruction = 'call \u0007 first';
      const all: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
      const res = await h.send('POST', '/$process-message', all, JSON.stringify(doc));
      assert.equal(res.status, 400, res.body.slice(0, 300));
      const issue = (JSON.parse(res.body) as { issue: Array<{ code: string; expression?: string[] }> }).issue[0]!;
      assert.equal(issue.code, 'value');
      assert.match(issue.expression?.[0] ?? '', /patientInstruction/);
    });

    it('half a surrogate pair in a FHIR string is 400 value, not 500 (a fresh seed found it in MessageHeader.source.endpoint)', async function () {
      for (const half of ['\ud800', 'a\udc00b']) {
        const doc = referral() as Bundle;
        (doc.entry![0]!.resource as unknown as { source: { endpoint: string } }).source.endpoint = half;
        const all: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
        const res = await h.send('POST', '/$process-message', all, JSON.stringify(doc));
        assert.equal(res.status, 400, res.body.slice(0, 300));
        const issue = (JSON.parse(res.body) as { issue: Array<{ code: string; expression?: string[] }> }).issue[0]!;
        assert.equal(issue.code, 'value');
        assert.match(issue.expression?.[0] ?? '', /source\.endpoint/);
      }
    });

    it('unicode in every free-text string is accepted and read back unchanged (50 runs)', async function () {
      const TEXT = new Set(['display', 'text', 'patientInstruction', 'comment']);
      await fc.assert(
        // FHIR strings may not carry C0 control characters other than tab, CR and LF, nor half a surrogate pair
        // (R4 §2.24.0.1); those are refused at the door (400 value), see the tests above.
        fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => s.trim().length > 0 && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(s) && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)), async (text) => {
          const replace = (node: unknown): unknown =>
            Array.isArray(node)
              ? node.map(replace)
              : node && typeof node === 'object'
                ? Object.fromEntries(Object.entries(node).map(([k, v]) => [k, TEXT.has(k) && typeof v === 'string' ? text : replace(v)]))
                : node;
          const doc = replace(referral()) as Bundle;
          const all: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
          const res = await h.send('POST', '/$process-message', all, JSON.stringify(doc));
          assert.equal(check(res, all['X-Request-Id'], 'free text unicode'), 200, res.body.slice(0, 300));
          const sr = (JSON.parse(res.body) as Bundle).entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource!;
          const read = await h.send('GET', `/ServiceRequest/${sr.id}`, h.headers());
          assert.equal(read.status, 200);
          assert.equal((JSON.parse(read.body) as { patientInstruction: string }).patientInstruction, text);
        }),
        { numRuns: 50 },
      );
    });
  });

  describe('headers', function () {
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
    const NHSD = ['NHSD-Target-Identifier', 'NHSD-End-User-Organisation', 'NHSD-Requesting-Software', 'NHSD-Requesting-Practitioner'] as const;

    it(`NHSD-* headers that are not base64, base64 of non-JSON, or base64 JSON of the wrong shape → 400 (${RUNS} runs)`, async function () {
      const body = JSON.stringify(referral());
      const badValue = fc.oneof(
        printable.filter((s) => !/^[A-Za-z0-9+/_-]+={0,2}$/.test(s.trim()) && s.trim() !== ''),
        printable.map((s) => Buffer.from(`{${s}`).toString('base64')),
        fc.jsonValue({ maxDepth: 2 }).filter((v) => !v || typeof v !== 'object' || Array.isArray(v) || !('resourceType' in v)).map((v) => b64(v)),
        fc.constant(b64({ resourceType: 'Patient' })),
        fc.constant(b64([])),
        fc.constant('e30'), // {} without padding
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...NHSD), badValue, async (name, value) => {
          const status = await post(body, { [name]: value }, `${name}: ${value}`, false);
          assert.equal(status, 400);
        }),
        { numRuns: RUNS },
      );
    });

    it(`X-Request-Id / X-Correlation-Id that are not UUIDs → 400, echoed only when safe (${RUNS} runs)`, async function () {
      const body = JSON.stringify(referral());
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('X-Request-Id', 'X-Correlation-Id'), printable.filter((s) => !UUID.test(s.trim())), async (name, value) => {
          const headers: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json', [name]: value };
          const res = await h.send('POST', '/$process-message', headers, body);
          check(res, name === 'X-Request-Id' ? value : headers['X-Request-Id'], `${name}: ${value}`, false);
          assert.equal(res.status, 400);
          const echoed = res.headers[name.toLowerCase()];
          if (echoed !== undefined) {
            assert.match(String(echoed), /^[\x21-\x7e]{1,128}$/, 'only safe values are mirrored');
            assert.equal(echoed, value.trim(), 'the echo is the value sent, never something else');
          }
        }),
        { numRuns: RUNS },
      );
    });

    it('header injection in echoed ids: encoded CR/LF, "Set-Cookie" payloads, repeated X-Request-Id → 400 and no injected header', async function () {
      const body = JSON.stringify(referral());
      for (const value of ['abc%0d%0aSet-Cookie:%20a=b', 'abc\\r\\nSet-Cookie: a=b', `${randomUUID()}, ${randomUUID()}`, '../../etc/passwd', '${jndi:ldap://x/a}']) {
        const status = await post(body, { 'X-Correlation-Id': value }, `X-Correlation-Id ${value}`, false);
        assert.equal(status, 400);
      }
    });

    /** Sends raw bytes over mutual TLS (what an HTTP client library refuses to send). */
    function raw(data: string): Promise<string> {
      const certs = testCerts();
      return new Promise((resolve) => {
        const socket = tls.connect(
          { host: '127.0.0.1', port: h.port, servername: 'localhost', ca: readFileSync(certs.caCert), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) },
          () => socket.end(data),
        );
        let out = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (out += d));
        socket.on('close', () => resolve(out));
        socket.on('error', () => resolve(out));
      });
    }
    const rawHeaders = (): string =>
      Object.entries(h.headers())
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n');

    it('raw header injection (bare CR, LF in a value, obs-fold), request smuggling (CL+TE, bad Content-Length) and 20 KB headers → a 4xx status line, no stack trace', async function () {
      const requests: Array<[string, string]> = [
        ['bare CR in a value', `GET /metadata HTTP/1.1\r\nHost: x\r\n${rawHeaders()}\r\nX-Evil: a\rSet-Cookie: b\r\nConnection: close\r\n\r\n`],
        ['obs-fold', `GET /metadata HTTP/1.1\r\nHost: x\r\n${rawHeaders()}\r\nX-Evil: a\r\n Set-Cookie: b\r\nConnection: close\r\n\r\n`],
        ['CL + TE', `POST /$process-message HTTP/1.1\r\nHost: x\r\n${rawHeaders()}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`],
        ['bad Content-Length', `POST /$process-message HTTP/1.1\r\nHost: x\r\n${rawHeaders()}\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}`],
        ['20 KB header', `GET /metadata HTTP/1.1\r\nHost: x\r\n${rawHeaders()}\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`],
        ['NUL in a header', `GET /metadata HTTP/1.1\r\nHost: x\r\n${rawHeaders()}\r\nX-Evil: a\u0000b\r\nConnection: close\r\n\r\n`],
      ];
      for (const [label, data] of requests) {
        const out = await raw(data);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1]);
        assert.ok(status >= 400 && status < 500, `${label}: ${out.slice(0, 200)}`);
        assert.doesNotMatch(out, STACK, label);
        assert.doesNotMatch(out, /set-cookie/i, label);
      }
    });

    it('HTTP parser-level refusals (bad header bytes, smuggling, 20 KB headers) carry an OperationOutcome', async function () {
      const out = await raw(`GET /metadata HTTP/1.1\r\nHost: x\r\n${rawHeaders()}\r\nX-Evil: a\rb\r\nConnection: close\r\n\r\n`);
      assert.match(out, /"resourceType":"OperationOutcome"/);
    });

    it('Accept headers with an unsupported version or media type → 406; a GET with junk in every header → 4xx', async function () {
      for (const accept of ['application/fhir+json; version=2.0.0', 'application/fhir+json; version=abc', 'text/html', 'image/*']) {
        const headers: Record<string, string> = { ...h.headers(), Accept: accept };
        const res = await h.send('GET', '/metadata', headers);
        check(res, headers['X-Request-Id'], `Accept ${accept}`, false);
        assert.equal(res.status, 406, accept);
      }
      await fc.assert(
        fc.asyncProperty(fc.dictionary(fc.constantFrom(...NHSD, 'Accept', 'X-Correlation-Id'), printable, { minKeys: 1 }), async (junk) => {
          const headers: Record<string, string> = { ...h.headers(), ...junk };
          const res = await h.send('GET', `/ServiceRequest/${randomUUID()}`, headers);
          check(res, headers['X-Request-Id'], `GET with ${JSON.stringify(junk)}`, false);
        }),
        { numRuns: 100 },
      );
    });
  });

  describe('start-up', function () {
    it('a valid referral posted the moment start() has resolved is accepted, not 503', async function () {
      const fresh = await startHarness();
      try {
        const all: Record<string, string> = { ...fresh.headers(), 'Content-Type': 'application/fhir+json' };
        const res = await fresh.send('POST', '/$process-message', all, JSON.stringify(referral()));
        assert.equal(res.status, 200, res.body.slice(0, 300));
      } finally {
        await fresh.close();
      }
    });
  });

  describe('afterwards', function () {
    async function scanCount(pattern: string): Promise<string[]> {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      return keys;
    }

    it('the store holds a message for each 200 and nothing else; no request is left in flight', async function () {
      const prefix = h.config.redis.prefix;
      assert.ok(answered > 1000, `answers checked: ${answered}`);
      // Message versions only: `msg:<id>` (its `:seq`, `:outputs` … companions are not messages).
      const messages = (await scanCount(`${prefix}:msg:*`)).filter((k) => /:msg:[0-9a-f-]{36}$/.test(k));
      const bundles = await scanCount(`${prefix}:bundle:*`);
      assert.equal(messages.length, accepted, `msg keys vs 200 answers (${answered} answers)`);
      assert.equal(bundles.length, accepted, 'bundle keys vs 200 answers');
      const requests = await scanCount(`${prefix}:req:*`);
      const hashes = await Promise.all(requests.map((k) => redis.hgetall(k)));
      // A 200 leaves its request `committed` with its inbound job added (the job is the proof of completion).
      assert.deepEqual(
        hashes.map((x) => x.state).filter((s) => s !== 'committed' && s !== 'done' && s !== 'failed'),
        [],
        'every request ends committed/done (200) or failed (4xx)',
      );
      const completed = hashes.filter((x) => x.state === 'committed' || x.state === 'done');
      assert.equal(completed.length, accepted, 'completed requests vs 200 answers');
      const inbound = new Queue('inbound', { connection: redis, prefix });
      try {
        const jobs = await Promise.all(completed.map((x) => inbound.getJob(`msg-${x.messageId}`)));
        assert.equal(jobs.filter(Boolean).length, accepted, 'every 200 has its inbound job');
      } finally {
        await inbound.close();
      }
    });

    it('the receiver still takes a valid referral', async function () {
      const all: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
      const res = await h.send('POST', '/$process-message', all, JSON.stringify(referral()));
      assert.equal(res.status, 200, res.body.slice(0, 300));
      const meta = await h.send('GET', '/metadata', h.headers());
      assert.equal(meta.status, 200);
    });
  });
});
