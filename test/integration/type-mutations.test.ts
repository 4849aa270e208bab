/*
 * Property test of input typing (issue 14 item 4): the JSON type of one element of an NHS England example message is
 * changed — any element, at any depth, of any example — and the receiver answers a 4xx OperationOutcome, never a 5xx,
 * and stores nothing. Runs in-process against the app (the same listener as production, over plain HTTP on loopback,
 * real Redis) so that thousands of cases take seconds: mutual TLS is tested elsewhere and changes nothing here.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import { loadConfig, type DeepPartial } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createApp } from '../../src/http/app.js';
import { createProducerConnection } from '../../src/state/redis.js';
import { MessageStore } from '../../src/state/message-store.js';
import { createInboundQueue, type InboundJobData } from '../../src/flows/inbound/inbound.js';
import { DEV_SLOTS } from '../../src/runtime.js';
import { barsHeaders } from '../../src/dev/send.js';
import { capturingLogger } from '../helpers/log-sink.js';
import { TEST_SERVICE_ID } from '../helpers/harness.js';
import { exampleFiles, IG_EXAMPLES_DIR, loadJson, prepare } from '../helpers/bars-examples.js';
import type { Bundle } from '../helpers/profile-validator.js';

const RUNS = 1000;

type Path = Array<string | number>;
type JsonKind = 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array';

const kindOf = (v: unknown): JsonKind => (v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as JsonKind));

/** Values of every JSON type, some of them shapes FHIR uses elsewhere (so a wrong one can look plausible). */
const REPLACEMENTS: readonly unknown[] = [
  123,
  0,
  -1.5,
  true,
  false,
  'text',
  null,
  {},
  { value: 'x' },
  { reference: 'Patient/1' },
  [],
  ['x'],
  [1],
  [{}],
  [{ system: 'x', value: 'y' }],
];

/** Every path in a JSON document (object properties and array items), the root excluded. */
function pathsOf(node: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(node)) {
    node.forEach((n, i) => {
      out.push([...at, i]);
      pathsOf(n, [...at, i], out);
    });
  } else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      out.push([...at, k]);
      pathsOf(v, [...at, k], out);
    }
  }
  return out;
}

function get(doc: unknown, p: Path): unknown {
  return p.reduce<unknown>((n, step) => (n as Record<string | number, unknown>)[step], doc);
}

/** A copy of `doc` with the value at `p` replaced. */
function withValue(doc: Bundle, p: Path, value: unknown): Bundle {
  const copy = structuredClone(doc);
  const parent = get(copy, p.slice(0, -1)) as Record<string | number, unknown>;
  parent[p[p.length - 1]!] = structuredClone(value);
  return copy;
}

/** Replacements of another JSON type than the value at `p` (a string stays a string: that is not a type change). */
const otherTypes = (doc: unknown, p: Path): unknown[] => {
  const kind = kindOf(get(doc, p));
  return REPLACEMENTS.filter((r) => kindOf(r) !== kind);
};

describe('every element of the NHS examples with a wrong JSON type → 4xx, never 5xx (in-process)', function () {
  this.timeout(300_000);
  let server: http.Server;
  let port: number;
  let redis: Redis;
  let inbound: Queue<InboundJobData>;
  let config: Readonly<Config>;
  let dataDir: string;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  before(async function () {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'bars-mutations-'));
    config = loadConfig({ NODE_ENV: 'test' }, {
      dataDir,
      logLevel: 'silent',
      redis: { url: process.env.TEST_REDIS_URL!, prefix: `{m-${randomUUID().slice(0, 8)}}`, embedded: false },
      service: { ids: [TEST_SERVICE_ID] },
      slots: DEV_SLOTS,
    } as DeepPartial<Config>);
    redis = createProducerConnection(config.redis);
    await new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));
    const store = new MessageStore(redis, config.redis.prefix);
    inbound = createInboundQueue(redis, config.redis.prefix);
    const app = createApp({ config, store, inbound, log: capturingLogger(), now: () => new Date() });
    server = http.createServer(app);
    // Keep the client's idle connections: a pause while the examples load must not reset them mid-run.
    server.keepAliveTimeout = 120_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async function () {
    agent.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await inbound?.close();
    redis?.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function post(body: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/$process-message', method: 'POST', agent, headers: { ...barsHeaders(TEST_SERVICE_ID), 'Content-Type': 'application/fhir+json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  async function refused(doc: Bundle, label: string): Promise<void> {
    const res = await post(JSON.stringify(doc));
    const detail = `${label}: ${res.status} ${res.body.slice(0, 300)}`;
    assert.ok(res.status >= 400 && res.status < 500, detail);
    const outcome = JSON.parse(res.body) as { resourceType?: string; issue?: Array<{ details?: { coding?: Array<{ code?: string }> } }> };
    assert.equal(outcome.resourceType, 'OperationOutcome', detail);
    assert.match(outcome.issue?.[0]?.details?.coding?.[0]?.code ?? '', /^REC_/, detail);
  }

  const storedMessages = async (): Promise<number> => (await redis.keys(`${config.redis.prefix}:msg:*`)).length;

  it('a valid example is accepted in-process (baseline)', async function () {
    const res = await post(JSON.stringify(prepare(loadJson(`${IG_EXAMPLES_DIR}/referral-request_new_111-to-ED_APP1_REFREQ01.json`))));
    assert.equal(res.status, 200, res.body.slice(0, 300));
  });

  it('REFREQ01: every path, each with a value of another JSON type → 4xx', async function () {
    const before = await storedMessages();
    const doc = prepare(loadJson(`${IG_EXAMPLES_DIR}/referral-request_new_111-to-ED_APP1_REFREQ01.json`));
    const paths = pathsOf(doc);
    assert.ok(paths.length > 300, `${paths.length} paths`);
    for (const [i, p] of paths.entries()) {
      const choices = otherTypes(doc, p);
      await refused(withValue(doc, p, choices[i % choices.length]), `${p.join('.')} = ${JSON.stringify(choices[i % choices.length])}`);
    }
    assert.equal(await storedMessages(), before, 'nothing stored');
  });

  it(`any example, any path, any other JSON type → 4xx (${RUNS} runs)`, async function () {
    const before = await storedMessages();
    const examples = exampleFiles().map((f) => {
      const doc = prepare(loadJson(f.file));
      return { key: f.key, doc, paths: pathsOf(doc) };
    });
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.nat(), async (e, p, r) => {
        const example = examples[e % examples.length]!;
        const at = example.paths[p % example.paths.length]!;
        const choices = otherTypes(example.doc, at);
        const value = choices[r % choices.length];
        // A fresh Bundle.id first (a reused one is refused before the types are looked at), then the mutation.
        const doc = withValue({ ...example.doc, id: randomUUID() }, at, value);
        await refused(doc, `${example.key} ${at.join('.')} = ${JSON.stringify(value)}`);
      }),
      { numRuns: RUNS },
    );
    assert.equal(await storedMessages(), before, 'nothing stored');
  });
});
