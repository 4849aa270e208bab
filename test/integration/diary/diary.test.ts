/*
 * Issue 17 "Done when", with the PAS simulator as a real MLLP peer on both sides (its diary sends SIU to our PAS events
 * listener and answers our SIU bookings and SQM^S25 queries): PAS books → GET /Slot busy within a second → a BaRS
 * booking on it is 409; PAS cancels → free; our booking echoed back counts once; the real-time query path and its
 * fallback to the mirror. Timings are printed (the issue's closing note quotes them).
 */
import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHarness, type Harness } from '../../helpers/harness.js';
import { exampleFiles, loadJson, postMessage, prepare, resourcesOf, waitUntilStoreReady, type Posted } from '../../helpers/bars-examples.js';
import type { Bundle, Resource } from '../../helpers/profile-validator.js';
import { startPasSimulator, type PasSimulator } from '../../../src/dev/pas-sim.js';
import { SimDiary } from '../../../src/dev/pas-sim-diary.js';
import { DEV_SLOTS } from '../../../src/runtime.js';
import { Diary, listDiaryConflicts } from '../../../src/flows/diary/diary.js';
import { diarySettingsSchema } from '../../../src/flows/diary/settings.js';
import { MessageStore } from '../../../src/state/message-store.js';
import { generateSlots } from '../../../src/flows/intake/slots.js';
import { keyspace } from '../../../src/state/keys.js';
import { Redis } from 'ioredis';
import { runCommand } from '../../helpers/cli.js';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { loadConfig, type DeepPartial } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { createProducerConnection } from '../../../src/state/redis.js';
import { createInboundQueue } from '../../../src/flows/inbound/inbound.js';
import { createApp } from '../../../src/http/app.js';
import { barsHeaders } from '../../../src/dev/send.js';
import { capturingLogger } from '../../helpers/log-sink.js';
import { TEST_SERVICE_ID } from '../../helpers/harness.js';

const CLINIC = 'BARS-DEV-CLINIC';
const HCS = DEV_SLOTS[0]!.healthcareService;
type Slot = Resource & { start: string; end: string; status: string };

/** A mappings directory whose diary.yaml is `diary` (the repository's other mappings unchanged). */
function mappingsWith(diary: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bars-diary-mappings-'));
  cpSync('mappings', dir, { recursive: true });
  writeFileSync(path.join(dir, 'pas-events', 'diary.yaml'), diary);
  return dir;
}

const BASE = `clinicFields: [AIL-3.1, ZBX-5.1]\nclinics:\n  - code: ${CLINIC}\n    healthcareService: ${HCS}\n`;

async function setUp(diaryYaml: string, sim: SimDiary): Promise<{ h: Harness; pas: PasSimulator }> {
  const pas = await startPasSimulator({ diary: sim });
  const h = await startHarness({
    worker: true,
    config: { mappingsDir: mappingsWith(diaryYaml), pas: { host: '127.0.0.1', port: pas.port, simulator: false } },
  });
  sim.configure({ events: { host: '127.0.0.1', port: h.running.pasEventsPort! } });
  await waitUntilStoreReady(h);
  return { h, pas };
}

function slotSearch(h: Harness, status = 'free,busy'): Promise<{ status: number; slots: Slot[]; lastUpdated: string; body: string }> {
  const from = new Date(Date.now() + 26 * 3600_000);
  from.setUTCMinutes(0, 0, 0);
  const to = new Date(from.getTime() + 5 * 3600_000);
  const iso = (d: Date): string => encodeURIComponent(d.toISOString().replace(/\.\d{3}Z$/, '+00:00'));
  const q = `/Slot?status=${status}&start=ge${iso(from)}&start=le${iso(to)}&Schedule.actor:HealthcareService=${HCS}&_include=Slot:schedule&_include=Schedule:actor:HealthcareService`;
  return h.send('GET', q, h.headers()).then((r) => {
    const b = r.status === 200 ? (JSON.parse(r.body) as Bundle & { meta: { lastUpdated: string } }) : undefined;
    return { status: r.status, slots: resourcesOf(b).filter((x) => x.resourceType === 'Slot') as Slot[], lastUpdated: b?.meta.lastUpdated ?? '', body: r.body };
  });
}

const statusOf = async (h: Harness, id: string): Promise<string | undefined> => (await slotSearch(h)).slots.find((s) => s.id === id)?.status;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await fn();
    if (value !== undefined) {
      return { value, ms: Date.now() - started };
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function booking(slot: Slot): Bundle {
  const file = exampleFiles().find((f) => f.key === 'pkg/BOOKREQ01 - Booking Request New Full.json')!.file;
  const b = prepare(loadJson(file));
  const s = resourcesOf(b).find((r) => r.resourceType === 'Slot') as Resource & { start?: string; end?: string };
  const a = resourcesOf(b).find((r) => r.resourceType === 'Appointment') as Resource & { start?: string; end?: string };
  s.id = slot.id;
  s.start = a.start = slot.start;
  s.end = a.end = slot.end;
  return b;
}

let redis: Redis;
before(() => {
  redis = new Redis(process.env.TEST_REDIS_URL!);
});
after(() => redis.quit());

const describeP = (p: Posted): string => `${p.res.status} ${p.res.body.slice(0, 300)}`;
const timings: string[] = [];

describe('diary: slots from the PAS diary (issue 17)', function () {
  this.timeout(60_000);
  after(() => {
    console.log(`\n  diary timings:\n    ${timings.join('\n    ')}\n`);
  });

  describe('mirror fed by SIU (no real-time query)', () => {
    const sim = new SimDiary({ clinic: CLINIC });
    let h: Harness;
    let pas: PasSimulator;
    before(async () => ({ h, pas } = await setUp(BASE, sim)));
    after(async () => {
      await h?.close();
      await pas?.close();
    });

    it('PAS books a slot → GET /Slot shows it busy within a second → a BaRS booking on it is 409; PAS cancels → free again', async () => {
      const free = (await slotSearch(h, 'free')).slots[1]!;
      assert.ok(free, 'a free slot');
      const t0 = Date.now();
      const { appointment, ack } = await sim.book({ startMs: Date.parse(free.start), endMs: Date.parse(free.end) });
      assert.equal(ack.code, 'AA');
      const busy = await until('the slot busy', async () => ((await statusOf(h, free.id!)) === 'busy' ? true : undefined));
      const busyMs = Date.now() - t0;
      // The issue asks for "within one second"; the time is printed (a speed target is not a test assertion here:
      // the machine is shared), and the wait above gives up after 5 s.
      timings.push(`PAS SIU^S12 sent → GET /Slot shows busy: ${busyMs} ms (${busy.ms} ms after the ACK)`);

      const refused = await postMessage(h, booking(free));
      assert.equal(refused.res.status, 409, describeP(refused));
      assert.equal(refused.outcome?.issue?.[0]?.code, 'conflict');
      assert.equal(refused.outcome?.issue?.[0]?.details?.coding?.[0]?.code, 'REC_CONFLICT');

      const t1 = Date.now();
      assert.equal((await sim.cancel(appointment.id)).code, 'AA');
      await until('the slot free', async () => ((await statusOf(h, free.id!)) === 'free' ? true : undefined));
      timings.push(`PAS SIU^S15 sent → GET /Slot shows free: ${Date.now() - t1} ms`);
      const booked = await postMessage(h, booking(free));
      assert.equal(booked.res.status, 200, describeP(booked));
    });

    it('our booking echoed back by the PAS counts once, and the mirror records it as ours', async () => {
      const free = (await slotSearch(h, 'free')).slots[2]!;
      const sentBefore = sim.sent.length;
      const booked = await postMessage(h, booking(free));
      assert.equal(booked.res.status, 200, describeP(booked));
      const appointmentId = resourcesOf(booked.bundle).find((r) => r.resourceType === 'Appointment')!.id!;
      // The PAS received our SIU^S12 and echoed it (SCH-1 = our id) to the PAS events listener.
      await until('the echo', async () => (sim.sent.length > sentBefore && sim.sent.at(-1)!.ack ? true : undefined), 10_000);
      const entries = await until('the echo in the mirror', async () => {
        const all = await redis.hgetall(keyspace(h.config.redis.prefix).diaryAppointments(HCS));
        const mine = Object.values(all).map((v) => JSON.parse(v) as { o?: string }).filter((v) => v.o === appointmentId);
        return mine.length > 0 ? mine : undefined;
      });
      assert.equal(entries.value.length, 1);
      // Capacity 1: busy (one holder). Holders are counted by id, so ours via SCH-1 and ours in our set are one.
      assert.equal(await statusOf(h, free.id!), 'busy');
      const holders = await redis.smembers(keyspace(h.config.redis.prefix).slot(free.id!));
      assert.deepEqual(holders, [appointmentId]);
      // The occupancy GET /Slot uses: our set ∪ the mirror, by id → 1 holder, not 2.
      const diary = new Diary({ redis, store: new MessageStore(redis, h.config.redis.prefix), settings: diarySettingsSchema.parse({ clinics: [{ code: CLINIC, healthcareService: HCS }] }), schedules: DEV_SLOTS, log: h.running.log });
      const slot = generateSlots(DEV_SLOTS[0]!, Date.parse(free.start), Date.parse(free.start)).find((x) => x.id === free.id)!;
      assert.equal((await diary.occupancy([slot])).counts.get(free.id!), 1);
      assert.equal(sim.appointments.size >= 1, true);
    });

    it('a booking on a slot this service never offered is 409 REC_CONFLICT, never 200', async () => {
      const free = (await slotSearch(h, 'free')).slots[0]!;
      const unknown = { ...free, id: '5c1f6b0e-8a8e-4f0b-9d4e-2a9a3c1d7e55' };
      const refused = await postMessage(h, booking(unknown));
      assert.equal(refused.res.status, 409, describeP(refused));
      assert.match(refused.outcome?.issue?.[0]?.diagnostics ?? '', /not a slot this service offers/);
    });

    it('a race the mirror could not see (the PAS answers AR) becomes a visible conflict', async () => {
      const free = (await slotSearch(h, 'free')).slots[0]!;
      // The PAS fills the time without telling us (no SIU): only its answer to our booking can say so.
      sim.appointments.set('HIDDEN1', { id: 'HIDDEN1', clinic: CLINIC, startMs: Date.parse(free.start), endMs: Date.parse(free.end) });
      const booked = await postMessage(h, booking(free));
      assert.equal(booked.res.status, 200, describeP(booked));
      const appointmentId = resourcesOf(booked.bundle).find((r) => r.resourceType === 'Appointment')!.id!;
      const { value: conflicts, ms } = await until('the refusal conflict', async () => {
        const list = await listDiaryConflicts(redis, h.config.redis.prefix);
        return list.some((c) => c.kind === 'pas-refused' && c.appointments.includes(appointmentId)) ? list : undefined;
      }, 15_000);
      timings.push(`booking refused by the PAS (AR) → conflict listed: ${ms} ms`);
      const c = conflicts.find((x) => x.appointments.includes(appointmentId))!;
      assert.equal(c.reason, 'ack-AR');
      // Ops see it with the CLI too.
      const run = await runCommand(['diary', 'conflicts', '--json'], { NODE_ENV: 'test', REDIS_URL: process.env.TEST_REDIS_URL!, REDIS_PREFIX: h.config.redis.prefix });
      assert.equal(run.code, 0, run.err);
      assert.ok((JSON.parse(run.out) as Array<{ appointments: string[] }>).some((x) => x.appointments.includes(appointmentId)));
      const text = await runCommand(['diary', 'conflicts'], { NODE_ENV: 'test', REDIS_URL: process.env.TEST_REDIS_URL!, REDIS_PREFIX: h.config.redis.prefix });
      assert.match(text.out, new RegExp(`pas-refused .*appointment ${appointmentId}.*ack-AR`));
    });

    it('a PAS booking on time one of ours holds is a clash conflict', async () => {
      const free = (await slotSearch(h, 'free')).slots[0]!;
      const booked = await postMessage(h, booking(free));
      assert.equal(booked.res.status, 200, describeP(booked));
      const appointmentId = resourcesOf(booked.bundle).find((r) => r.resourceType === 'Appointment')!.id!;
      await sim.book({ startMs: Date.parse(free.start), endMs: Date.parse(free.end), id: 'CLASH1' });
      await until('the clash conflict', async () => {
        const list = await listDiaryConflicts(redis, h.config.redis.prefix);
        return list.some((c) => c.kind === 'pas-clash' && c.pasAppointment === 'CLASH1' && c.appointments.includes(appointmentId)) ? true : undefined;
      });
    });
  });

  describe('an instance with no schedules (in-process app, as production runs without development defaults)', () => {
    let server: http.Server;
    let producer: Redis;
    let inbound: ReturnType<typeof createInboundQueue>;
    before(async () => {
      const config = loadConfig({ NODE_ENV: 'test' }, {
        dataDir: mkdtempSync(path.join(os.tmpdir(), 'bars-diary-noslots-')),
        logLevel: 'silent',
        redis: { url: process.env.TEST_REDIS_URL!, prefix: `{d-${randomUUID().slice(0, 8)}}`, embedded: false },
        service: { ids: [TEST_SERVICE_ID] },
        slots: [],
      } as DeepPartial<Config>);
      producer = createProducerConnection(config.redis);
      await new Promise<void>((resolve) => (producer.status === 'ready' ? resolve() : producer.once('ready', () => resolve())));
      const store = new MessageStore(producer, config.redis.prefix);
      inbound = createInboundQueue(producer, config.redis.prefix);
      const app = createApp({ config, store, inbound, log: capturingLogger(), now: () => new Date() });
      server = http.createServer(app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    after(async () => {
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      await inbound?.close();
      producer?.disconnect();
    });

    it('accepts a booking on no Slot id, not even NHS England\'s example slot: 409 REC_CONFLICT', async () => {
      const file = exampleFiles().find((f) => f.key === 'pkg/BOOKREQ01 - Booking Request New Full.json')!.file;
      const port = (server.address() as { port: number }).port;
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/$process-message', method: 'POST', headers: { ...barsHeaders(TEST_SERVICE_ID), 'Content-Type': 'application/fhir+json' } }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ status: r.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.on('error', reject);
        req.end(JSON.stringify(prepare(loadJson(file))));
      });
      assert.equal(res.status, 409, res.body.slice(0, 300));
      assert.match(res.body, /REC_CONFLICT/);
      assert.match(res.body, /not a slot this service offers/);
    });
  });

  describe('real-time query (SQM^S25 → SQR^S25) and its fallback', () => {
    const sim = new SimDiary({ clinic: CLINIC });
    let h: Harness;
    let pas: PasSimulator;
    before(async () => ({ h, pas } = await setUp(`${BASE}query:\n  destination: pas\n  timeoutMs: 400\n`, sim)));
    after(async () => {
      await h?.close();
      await pas?.close();
    });

    it('answers from the PAS in real time: time the PAS filled without telling anyone is busy', async () => {
      const free = (await slotSearch(h, 'free')).slots[1]!;
      sim.appointments.set('QUIET1', { id: 'QUIET1', clinic: CLINIC, startMs: Date.parse(free.start), endMs: Date.parse(free.end) });
      const t0 = Date.now();
      const r = await slotSearch(h);
      timings.push(`GET /Slot with the real-time query answered: ${Date.now() - t0} ms`);
      assert.equal(r.slots.find((s) => s.id === free.id)?.status, 'busy');
      assert.ok(Date.now() - Date.parse(r.lastUpdated) < 5000, `lastUpdated ${r.lastUpdated} is the query time`);
      assert.ok(pas.received.some((m) => m.messageType.startsWith('SQM^S25')));
    });

    it('falls back to the mirror when the PAS does not answer within the budget, with the mirror time in meta.lastUpdated', async () => {
      const free = (await slotSearch(h, 'free')).slots[2]!;
      await sim.book({ startMs: Date.parse(free.start), endMs: Date.parse(free.end), id: 'FED1' });
      sim.configure({ query: { mode: 'silent' } });
      await new Promise((r) => setTimeout(r, 1100));
      const t0 = Date.now();
      const r = await slotSearch(h);
      const ms = Date.now() - t0;
      timings.push(`GET /Slot when the PAS query times out (400 ms budget) → mirror: ${ms} ms`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.slots.find((s) => s.id === free.id)?.status, 'busy', 'the mirror has the SIU-fed booking');
      assert.equal(r.slots.find((s) => s.id === (free.id === r.slots[1]!.id ? r.slots[3]!.id : r.slots[1]!.id))?.status, 'free', 'QUIET1 was never fed: the mirror cannot know it');
      assert.ok(ms >= 400, `${ms} ms: it waited for the PAS for the query budget`);
      assert.ok(ms < 5000, `${ms} ms: within BaRS's 5 s answer budget`);
      const age = Date.now() - Date.parse(r.lastUpdated);
      assert.ok(age >= 1000, `meta.lastUpdated ${r.lastUpdated} shows the mirror's age (${age} ms)`);
      sim.configure({ query: { mode: 'answer' } });
    });
  });
});

