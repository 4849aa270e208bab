/*
 * Acknowledged means delivered (issue 12 item 2, end to end): every NHS England example message Bundle (the IG's
 * and the BaRS 1.34.0 package's) is posted over real mutual TLS to a receiver with a worker and the PAS simulator;
 * every one answered 200 in a workflow with PAS mappings must reach the PAS — each of its outputs delivered (ACK AA),
 * no mapping failure — and every refusal is a 4xx OperationOutcome naming why. Updates and cancellations, which need
 * the record first, are sent as NHS England's conversations (REFREQ8A→8D, REFREQ9A, VALREQ01→02, VALREQ01→SERVREQ02)
 * with the ids we returned. The summary line gives the counts.
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startHarness, type Harness } from '../helpers/harness.js';
import { describeOutcome, exampleFiles, loadJson, postMessage, prepare, resourcesOf, waitUntilStoreReady, type Posted } from '../helpers/bars-examples.js';
import { BARS_PACKAGE, loadBarsProfiles, unpackedPackage, type Bundle, type Resource } from '../helpers/profile-validator.js';
import { waitFor } from '../helpers/messages.js';
import { MessageStore } from '../../src/state/message-store.js';
import { trace, type TracedMessage } from '../../src/ops/trace.js';

describe('NHS examples end to end: every 200 reaches the PAS simulator (ACK AA)', function () {
  this.timeout(240_000);
  let h: Harness;
  let store: MessageStore;
  const files = (() => {
    loadBarsProfiles();
    return exampleFiles();
  })();
  const newTally = () => ({ posted: 0, accepted: 0, delivered: 0, noMapping: 0, refused: new Map<string, number>() });
  const tallies = { 'examples posted on their own': newTally(), 'conversation steps': newTally() };
  let tally = tallies['examples posted on their own'];

  before(async function () {
    h = await startHarness({ worker: true });
    await waitUntilStoreReady(h);
    store = new MessageStore(new Redis(h.config.redis.url), h.config.redis.prefix);
  });
  after(async function () {
    store?.redis.disconnect();
    await h?.close();
    for (const [what, t] of Object.entries(tallies)) {
      const refused = [...t.refused.entries()].map(([why, n]) => `${n}× ${why}`).join('; ');
      process.stdout.write(
        `      NHS ${what}, over mTLS: ${t.posted} posted, ${t.accepted} answered 200 (${t.delivered} delivered to the PAS, ${t.noMapping} responses with no PAS mapping), ${t.posted - t.accepted} refused${refused ? `: ${refused}` : ''}\n`,
      );
    }
  });

  /** The stored message of a request, once the worker has mapped it (outputs or failures recorded). */
  async function mapped(requestId: string, workflow: string): Promise<TracedMessage> {
    return waitFor(async () => {
      const t = await trace(store, requestId, 'examples-delivered-test');
      const m = t.records.flatMap((r) => r.messages).find((x) => x.requestId === requestId);
      if (!m) {
        return undefined;
      }
      if (workflow.startsWith('response-')) {
        return m;
      }
      return m.outputs.length > 0 || m.mappingFailures.length > 0 ? m : undefined;
    }, 30_000);
  }

  /** Asserts that an accepted request's every output was delivered and ACKed AA by the PAS simulator. */
  async function assertDelivered(p: Posted, label: string): Promise<void> {
    tally.posted++;
    if (p.res.status !== 200) {
      assert.ok(p.res.status >= 400 && p.res.status < 500, `${label}: ${describeOutcome(p)}`);
      const issue = p.outcome?.issue?.[0];
      assert.ok(issue?.diagnostics, `${label}: the refusal says why`);
      const why = `${p.res.status} ${issue?.details?.coding?.[0]?.code ?? '?'} ${issue?.expression?.[0] ?? ''}`.trim();
      tally.refused.set(why, (tally.refused.get(why) ?? 0) + 1);
      return;
    }
    tally.accepted++;
    const header = resourcesOf(p.bundle)[0] as Resource & { eventCoding?: { code?: string } };
    const isResponse = header.eventCoding?.code === 'servicerequest-response';
    const stored = await mapped(p.requestId, isResponse ? 'response-' : 'request');
    if (isResponse) {
      assert.deepEqual(stored.outputs, [], `${label}: responses sent to us have no PAS mapping`);
      tally.noMapping++;
      return;
    }
    assert.deepEqual(stored.mappingFailures, [], `${label}: answered 200, so every mapping renders`);
    const delivered = await waitFor(async () => {
      const t = await trace(store, p.requestId, 'examples-delivered-test');
      const m = t.records.flatMap((r) => r.messages).find((x) => x.requestId === p.requestId)!;
      return m.outputs.every((o) => o.delivery?.summary.status === 'delivered') ? m.outputs : undefined;
    }, 30_000);
    const sim = h.running.pasSimulator!;
    for (const o of delivered.filter((x) => x.destination === 'pas')) {
      const got = sim.received.filter((m) => m.controlId === o.controlId);
      assert.ok(got.length > 0, `${label}: ${o.mappingId} reached the PAS simulator`);
      const action = got[0]!.action;
      assert.ok(action.kind === 'ack' && action.code === 'AA', `${label}: ${o.mappingId} ACKed AA`);
      assert.doesNotMatch(got[0]!.text, /\n/, `${label}: ${o.mappingId}: no raw line feed in ER7`);
    }
    tally.delivered++;
  }

  it('each example posted on its own: 200 → every output delivered AA; otherwise a 4xx that says why', async function () {
    for (const { key, file } of files) {
      const p = await postMessage(h, prepare(loadJson(file)));
      await assertDelivered(p, key);
    }
    assert.ok(tally.accepted >= 20, `most NHS examples are accepted (${tally.accepted})`);
  });

  describe('conversations with the ids we returned: updates and cancellations reach the PAS too', function () {
    const pkg = (name: string): string => path.join(unpackedPackage(BARS_PACKAGE), 'examples', name);
    const rootOf = (b: Bundle | undefined, type: string): Resource | undefined => resourcesOf(b).find((r) => r.resourceType === type);

    async function conversation(steps: string[]): Promise<void> {
      tally = tallies['conversation steps'];
      let ids: { root: string; patient?: string } | undefined;
      for (const step of steps) {
        const sent = prepare(loadJson(pkg(step)));
        if (ids) {
          rootOf(sent, 'ServiceRequest')!.id = ids.root;
          const patient = rootOf(sent, 'Patient');
          if (patient && ids.patient) {
            patient.id = ids.patient;
          }
        }
        const p = await postMessage(h, sent);
        assert.equal(p.res.status, 200, `${step}: ${describeOutcome(p)}`);
        await assertDelivered(p, step);
        ids ??= { root: rootOf(p.bundle, 'ServiceRequest')!.id!, patient: rootOf(p.bundle, 'Patient')?.id };
      }
    }

    it('REFREQ8A (CAD C1, no name, no identifier) → 8B → 8C → 8D: REF^I12 then three REF^I13, all delivered', async function () {
      await conversation([
        'REFREQ8A - Referral Service Request - CAD Out of Area C1(1 of 4 - Initial).json',
        'REFREQ8B - Referral Service Request - CAD Out of Area C1(2 of 4 - Update).json',
        'REFREQ8C - Referral Service Request - CAD Out of Area C1(3 of 4 - Update).json',
        'REFREQ8D - Referral Service Request - CAD Out of Area C1(4 of 4 - Final Update).json',
      ]);
    });

    it('REFREQ9A C2 initial → update → final update: all delivered', async function () {
      await conversation([
        'REFREQ9A - Referral Service Request - CAD Out of Area C2(1 of 3 - Initial).json',
        'REFREQ9A - Referral Service Request - CAD Out of Area C2(2 of 3 - Update).json',
        'REFREQ9A - Referral Service Request - CAD Out of Area C2(3 of 3 - Final Update).json',
      ]);
    });

    it('VALREQ01 → VALREQ02 (update) and VALREQ01 → SERVREQ02 (cancel): all delivered', async function () {
      await conversation([
        'VALREQ01 - Validation Service Request New Full - 999 to CAS.json',
        'VALREQ02 - Validation Service Request Update Full - 999 to CAS Lower Priority.json',
      ]);
      await conversation(['VALREQ01 - Validation Service Request New Full - 999 to CAS.json', 'SERVREQ02 - Service Request Delete - Entered in error.json']);
    });
  });
});
