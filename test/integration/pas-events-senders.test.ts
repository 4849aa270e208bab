/*
 * Issue 14 probes through the whole service (web + worker, real mTLS and MLLP): the PAS events port accepted anyone,
 * so an ADT^A03 from ATTACKER finished a real Encounter, and a message with another sender's MSH-10 pre-claimed its
 * de-duplication key so the real event was acknowledged and dropped.
 */
import { strict as assert } from 'node:assert';
import { Redis } from 'ioredis';
import { startHarness, type Harness } from '../helpers/harness.js';
import { messageBody, waitFor } from '../helpers/messages.js';
import { buildArrivalA04, sendPasEvent } from '../../src/dev/pas-sim-events.js';
import type { StatusEvent } from '../../src/flows/pas-events/processor.js';
import { pasEventKey } from '../../src/flows/pas-events/listener.js';
import { recordEvents } from '../../src/flows/pas-events/processor.js';
import { MessageStore } from '../../src/state/message-store.js';

describe('PAS events senders (issue 14): only configured senders change records', function () {
  this.timeout(30_000);
  let h: Harness;
  let redis: Redis;
  const events: StatusEvent[] = [];

  before(async function () {
    h = await startHarness({ worker: true, config: { pasEvents: { port: 0, allow: ['PAS^RXX', 'OTHERPAS^RYY'] } } });
    h.running.onStatus((e) => events.push(e));
    redis = new Redis(h.config.redis.url);
  });
  after(async function () {
    redis.disconnect();
    await h.close();
  });

  /** Posts a referral and returns our reference and ServiceRequest id. */
  async function referral(): Promise<{ reference: string; srId: string }> {
    const res = await h.send('POST', '/$process-message', { ...h.headers(), 'Content-Type': 'application/fhir+json' }, messageBody());
    assert.equal(res.status, 200, res.body);
    const resources = (JSON.parse(res.body) as { entry: Array<{ resource: { resourceType: string; id: string; status?: string; identifier?: Array<{ value: string }> } }> }).entry.map((e) => e.resource);
    return {
      reference: resources.find((r) => r.resourceType === 'Encounter' && r.status === 'planned')!.identifier![0]!.value,
      srId: resources.find((r) => r.resourceType === 'ServiceRequest')!.id,
    };
  }
  const encounterStatus = async (srId: string): Promise<string> =>
    (JSON.parse((await redis.hget(`${h.config.redis.prefix}:rec:ServiceRequest:${srId}`, 'state'))!) as { encounterStatus: string }).encounterStatus;
  const target = (): { host: string; port: number } => ({ host: '127.0.0.1', port: h.running.pasEventsPort! });

  it('a forged ADT^A03 from ATTACKER naming our reference gets AR and the Encounter stays planned', async function () {
    const { reference, srId } = await referral();
    const controlId = `FORGED${Date.now()}`;
    const forged = buildArrivalA04({ controlId, patientId: '9000000009', visitNumber: reference, sendingApplication: 'ATTACKER', sendingFacility: 'RXX', messageType: 'ADT^A03^ADT_A03' });
    const ack = await sendPasEvent(target(), forged, controlId);
    assert.equal(ack.code, 'AR');
    assert.equal(ack.controlId, controlId);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await encounterStatus(srId), 'planned');
    assert.equal(events.filter((e) => e.recordId === srId).length, 0);
    assert.deepEqual(await recordEvents(new MessageStore(redis, h.config.redis.prefix), 'ServiceRequest', srId), []);
  });

  it('pre-claiming another sender\'s event key cannot suppress the real event', async function () {
    const { reference, srId } = await referral();
    const controlId = `CLAIM${Date.now()}`;
    // The attacker's pre-claim (the probe): refused, so it claims nothing.
    const attacker = await sendPasEvent(target(), buildArrivalA04({ controlId, patientId: '9000000009', visitNumber: 'BB-ZZZZZZ', sendingApplication: 'ATTACKER', sendingFacility: 'RXX' }), controlId);
    assert.equal(attacker.code, 'AR');
    // Another configured sender using the same MSH-10 first: its own event, not the real one's key.
    const other = await sendPasEvent(target(), buildArrivalA04({ controlId, patientId: '9000000009', visitNumber: 'BB-ZZZZZZ', sendingApplication: 'OTHERPAS', sendingFacility: 'RYY' }), controlId);
    assert.equal(other.code, 'AA');
    const real = await sendPasEvent(target(), buildArrivalA04({ controlId, patientId: '9000000009', visitNumber: reference }), controlId);
    assert.equal(real.code, 'AA');
    const event = await waitFor(() => events.find((e) => e.recordId === srId));
    assert.deepEqual({ from: event.from, to: event.to, pasControlId: event.pasControlId }, { from: 'planned', to: 'arrived', pasControlId: controlId });
    assert.equal(await encounterStatus(srId), 'arrived');
    // Applied: its raw message now lives as long as the record (no TTL); the other sender's is kept with the retention.
    const [applied] = await recordEvents(new MessageStore(redis, h.config.redis.prefix), 'ServiceRequest', srId);
    assert.equal(await redis.ttl(pasEventKey(h.config.redis.prefix, applied!.eventId)), -1);
  });
});
