/*
 * The whole path on real sockets: referral over mTLS → store → inbound mapping → ordered lane → MLLP → the PAS
 * simulator, which ACKs AA. Order is what the receipt order was, even though mapping runs 8 at a time.
 */
import { strict as assert } from 'node:assert';
import { Redis } from 'ioredis';
import { startHarness, type Harness } from '../helpers/harness.js';
import { messageBody, waitFor } from '../helpers/messages.js';
import { buildArrivalA04, sendPasEvent } from '../../src/dev/pas-sim-events.js';
import type { StatusEvent } from '../../src/flows/pas-events/processor.js';
import { MessageStore } from '../../src/state/message-store.js';
import { trace } from '../../src/ops/trace.js';

const referral = (): string => messageBody();

describe('end to end: BaRS referral to the PAS over MLLP', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async function () {
    h = await startHarness({ worker: true });
  });
  after(async function () {
    await h.close();
  });

  it('delivers a 111→ED referral as ADT^A05 and REF^I12 carrying our reference, ACKed AA', async function () {
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, referral());
    assert.equal(res.status, 200, res.body);
    const body = JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; status?: string; identifier?: Array<{ value: string }> } }> };
    const reference = body.entry.map((e) => e.resource).find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value;
    const sim = h.running.pasSimulator!;
    const mine = await waitFor(() => {
      const got = sim.received.filter((m) => m.text.includes(reference));
      return got.length >= 2 ? got : undefined;
    });
    assert.deepEqual(mine.map((m) => m.messageType.split('^').slice(0, 2).join('^')).sort(), ['ADT^A05', 'REF^I12']);
    for (const m of mine) {
      assert.match(m.text, /^MSH\|\^~\\&\|/);
      assert.equal(m.action.kind, 'ack');
    }
    for (const m of mine) {
      assert.match(m.text, /\rPID\|[^\r]*9000000009/, 'the NHS number reaches the PAS in PID-3');
    }
  });

  it('keeps receipt order through parallel mapping: 60 referrals sent 12 at a time reach the PAS in commit order', async function () {
    const sent: Array<{ reference: string; srId: string }> = [];
    for (let batch = 0; batch < 5; batch++) {
      const results = await Promise.all(
        Array.from({ length: 12 }, async () => {
          const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, referral());
          assert.equal(res.status, 200);
          const resources = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; id: string; status?: string; identifier?: Array<{ value: string }> } }> }).entry.map((e) => e.resource);
          return {
            reference: resources.find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value,
            srId: resources.find((r) => r.resourceType === 'ServiceRequest')!.id,
          };
        }),
      );
      sent.push(...results);
    }
    // Receipt order is the sequence number each message got inside its commit.
    const redis = new Redis(h.config.redis.url);
    const prefix = h.config.redis.prefix;
    const seqOf = new Map<string, number>();
    try {
      for (const s of sent) {
        const state = JSON.parse((await redis.hget(`${prefix}:rec:ServiceRequest:${s.srId}`, 'state'))!) as { latestMessageId: string };
        seqOf.set(s.reference, Number(await redis.get(`${prefix}:msg:${state.latestMessageId}:seq`)));
      }
    } finally {
      redis.disconnect();
    }
    const sim = h.running.pasSimulator!;
    await waitFor(() => (sent.every((s) => sim.received.some((m) => m.text.includes(s.reference) && m.messageType.startsWith('REF'))) ? true : undefined), 20_000);
    const pasOrder = sent
      .map((s) => ({ reference: s.reference, at: sim.received.findIndex((m) => m.text.includes(s.reference)) }))
      .sort((a, b) => a.at - b.at)
      .map((x) => seqOf.get(x.reference)!);
    assert.deepEqual(pasOrder, [...pasOrder].sort((a, b) => a - b), 'first receipts at the PAS follow the receipt (commit) order');
  });

  it('applies a PAS arrival (ADT^A04 naming our reference in PV1-19) to the stored record, and ignores a resend', async function () {
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, referral());
    const resources = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; id: string; status?: string; identifier?: Array<{ value: string }> } }> }).entry.map((e) => e.resource);
    const reference = resources.find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value;
    const srId = resources.find((r) => r.resourceType === 'ServiceRequest')!.id;
    const events: StatusEvent[] = [];
    h.running.onStatus((e) => events.push(e));
    const controlId = `PAS${Date.now()}`;
    const ack = await sendPasEvent({ host: '127.0.0.1', port: h.running.pasEventsPort! }, buildArrivalA04({ controlId, patientId: '9000000009', visitNumber: reference }), controlId);
    assert.equal(ack.code, 'AA');
    const event = await waitFor(() => events.find((e) => e.recordId === srId));
    assert.deepEqual({ event: event.event, from: event.from, to: event.to }, { event: 'encounter-status-changed', from: 'planned', to: 'arrived' });
    const redis = new Redis(h.config.redis.url);
    try {
      const state = JSON.parse((await redis.hget(`${h.config.redis.prefix}:rec:ServiceRequest:${srId}`, 'state'))!) as { encounterStatus: string; version: number };
      assert.equal(state.encounterStatus, 'arrived');
      // The same PAS message again (same MSH-10) is ACKed but changes nothing.
      const again = await sendPasEvent({ host: '127.0.0.1', port: h.running.pasEventsPort! }, buildArrivalA04({ controlId, patientId: '9000000009', visitNumber: reference }), controlId);
      assert.equal(again.code, 'AA');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(events.filter((e) => e.recordId === srId).length, 1);
      const after = JSON.parse((await redis.hget(`${h.config.redis.prefix}:rec:ServiceRequest:${srId}`, 'state'))!) as { version: number };
      assert.equal(after.version, state.version);
    } finally {
      redis.disconnect();
    }
  });

  it('traces a message by reference, MSH-10, request id and NHS number, and audits each look-up', async function () {
    const headers: Record<string, string> = { ...h.headers(), 'Content-Type': 'application/fhir+json' };
    const res = await h.send('POST', '/$process-message', headers, referral());
    const resources = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; id: string; status?: string; identifier?: Array<{ value: string }> } }> }).entry.map((e) => e.resource);
    const reference = resources.find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value;
    const srId = resources.find((r) => r.resourceType === 'ServiceRequest')!.id;
    const store = new MessageStore(new Redis(h.config.redis.url), h.config.redis.prefix);
    try {
      let t = await trace(store, reference, 'test-user');
      for (let i = 0; i < 100 && t.records[0]?.messages[0]?.outputs.filter((o) => o.delivery?.summary.status === 'delivered').length !== 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        t = await trace(store, reference, 'test-user');
      }
      assert.equal(t.matchedBy, 'reference');
      assert.equal(t.records[0]!.id, srId);
      const outputs = t.records[0]!.messages[0]!.outputs;
      assert.deepEqual(outputs.map((o) => o.delivery?.summary.status), ['delivered', 'delivered']);
      const byControl = await trace(store, outputs[1]!.controlId, 'test-user');
      assert.equal(byControl.matchedBy, 'control-id');
      assert.equal(byControl.records[0]!.id, srId);
      const byRequest = await trace(store, headers['X-Request-Id']!, 'test-user');
      assert.equal(byRequest.matchedBy, 'request-id');
      const byNhs = await trace(store, '9000000009', 'test-user');
      assert.equal(byNhs.matchedBy, 'nhs-number');
      assert.ok(byNhs.records.some((r) => r.id === srId));
      const audit = await store.redis.lrange(`${h.config.redis.prefix}:audit:trace`, 0, -1);
      assert.ok(audit.map((a) => JSON.parse(a) as { actor: string; key: string }).some((a) => a.actor === 'test-user' && a.key === '9000000009'));
    } finally {
      store.redis.disconnect();
    }
  });
});
