import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { enqueueDelivery, startLaneWorkers, type LaneWorkers } from '../../../src/flows/delivery/lanes.js';
import {
  IDLE_AFTER_MS,
  deliveredBucketKey,
  linkKey,
  readLinkStatuses,
  recordLink,
  screenAckText,
  type LinkStatus,
} from '../../../src/state/link-state.js';
import { startPasSimulator, type PasScenario, type PasSimulator } from '../../../src/dev/pas-sim.js';
import { adt, ctrl, fastPolicy, pasDestination, testRedis, uniquePrefix, waitFor } from './helpers.js';

describe('link state per destination (real Redis, real MLLP simulator)', function () {
  this.timeout(30000);
  let redis: Redis;
  /** A second connection, as the web process has: it only reads. */
  let reader: Redis;
  let workers: LaneWorkers | undefined;
  let sim: PasSimulator | undefined;
  let prefix: string;
  let n = 0;

  beforeEach(() => {
    redis = testRedis();
    reader = testRedis();
    prefix = uniquePrefix('link');
    n = 0;
  });
  afterEach(async () => {
    await workers?.close();
    workers = undefined;
    await sim?.close();
    sim = undefined;
    await redis.quit();
    await reader.quit();
  });

  const enqueue = async (count = 1): Promise<void> => {
    for (let i = 0; i < count; i += 1) {
      n += 1;
      await enqueueDelivery({ redis, prefix }, { messageId: `m${n}`, destination: 'pas', controlId: ctrl(n), contentType: 'x-application/hl7-v2+er7', text: adt(ctrl(n)) });
    }
  };
  const status = async (ackText = false): Promise<LinkStatus> => (await readLinkStatuses(reader, prefix, ['pas'], { ackText }))[0]!;
  const stateIs = (state: LinkStatus['state']) => async () => (await status()).state === state;
  const start = async (scenario: PasScenario, port?: number): Promise<PasSimulator> => {
    sim = await startPasSimulator({ scenario, ...(port ? { port } : {}) });
    return sim;
  };

  it('walks connected → refusing → ack-timeouts → rejecting (AE, AR) → connected, as a second connection reads it', async () => {
    const first = await start({});
    const port = first.port;
    assert.equal((await status()).state, 'unknown', 'nothing recorded yet');
    // No keep-alive: no background reconnects, so every state below comes from an attempt's own record.
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', port, { keepAlive: false })], fastPolicy());
    await enqueue(3);
    await waitFor(async () => (await status()).delivered5m === 3, 5000, 'three delivered');
    let s = await status();
    assert.equal(s.state, 'connected');
    assert.equal(s.lastAck?.code, 'AA');
    assert.equal(s.delivered1h, 3);
    assert.equal(s.lastError, undefined);
    const connectedSince = s.since!;

    // PAS down: connection refused. `since` is the first failure and stays put while the lane retries.
    await first.close();
    sim = undefined;
    // As after a Redis restart: the scripts are gone; the recording inside the attempt's MULTI still lands.
    await reader.script('FLUSH');
    await enqueue();
    await waitFor(stateIs('refusing'), 5000, 'refusing');
    s = await status();
    assert.equal(s.lastError, 'connection ECONNREFUSED');
    const refusingSince = s.since!;
    assert.ok(refusingSince > connectedSince);
    const attemptsBefore = s.lastAttemptAt!;
    await waitFor(async () => (await status()).lastAttemptAt !== attemptsBefore, 5000, 'another refused attempt');
    assert.equal((await status()).since, refusingSince, 'since = when the state was entered, not the last attempt');

    // PAS up but silent: the message goes out, no ACK within the ACK timeout.
    await start({ decide: () => ({ kind: 'silent' }) }, port);
    await waitFor(stateIs('ack-timeouts'), 5000, 'ack-timeouts');
    assert.equal((await status()).lastError, 'ack-timeout');

    // PAS answers AE with a text that echoes patient data and carries control characters.
    sim!.setScenario({ decide: () => ({ kind: 'ack', code: 'AE', text: 'Patient 943 476 5919 born 19800101 locked\u0007' }) });
    await waitFor(stateIs('rejecting'), 5000, 'rejecting');
    s = await status();
    assert.equal(s.lastAck?.code, 'AE');
    assert.equal(s.lastAck?.text, undefined, 'the MSA-3 text only goes to a reader that asks for it');
    assert.equal((await status(true)).lastAck?.text, 'Patient # born # locked', 'screened: digit runs masked, control characters out');
    const stored = await reader.hget(linkKey(prefix, 'pas'), 'lastAckText');
    assert.ok(!/\d{6}/.test(stored!), 'no NHS number or date of birth stored in the link state');
    const rejectingSince = s.since!;

    // AR (dead-letter by default) of the head m4: still rejecting, since unchanged.
    sim!.setScenario({ decide: () => ({ kind: 'ack', code: 'AR', text: 'Unknown clinic' }) });
    await waitFor(async () => (await status()).lastAck?.code === 'AR', 5000, 'AR seen');
    assert.equal((await status()).since, rejectingSince);

    // PAS healthy again: the lane moved on past the dead letter; the next message is connected and counted.
    sim!.setScenario({});
    await enqueue(); // m5
    await waitFor(stateIs('connected'), 5000, 'connected again');
    await waitFor(async () => (await status()).delivered5m === 4, 5000, 'm5 delivered (m4 is a dead letter)');
    s = await status(true);
    assert.equal(s.lastAck?.code, 'AA');
    assert.equal(s.lastError, undefined, 'a success clears the last error');
    assert.ok(s.since! > rejectingSince);
  });

  it('says refusing when an idle keep-alive link goes down, and connected when it comes back, with no message sent', async () => {
    const first = await start({});
    const port = first.port;
    workers = await startLaneWorkers({ redis, prefix }, [pasDestination('pas', port)], fastPolicy());
    await enqueue();
    await waitFor(stateIs('connected'), 5000, 'connected');
    await first.close(); // drops the kept-alive connection; the client reconnects in the background and is refused
    sim = undefined;
    await waitFor(stateIs('refusing'), 5000, 'refusing while idle');
    assert.equal((await status()).lastError, 'connection ECONNREFUSED');
    await start({}, port);
    await waitFor(stateIs('connected'), 5000, 'connected after the background reconnect');
    assert.equal(first.received.length + sim!.received.length, 1, 'no message was sent to find out');
  });

  it('derives idle from the last attempt, counts deliveries in expiring minute buckets, and reads unknown destinations', async () => {
    const t0 = Date.parse('2026-01-01T10:00:30Z');
    await recordLink(redis, prefix, 'pas', { state: 'connected', at: new Date(t0), ackCode: 'AA', delivered: 2 });
    await recordLink(redis, prefix, 'pas', { state: 'connected', at: new Date(t0 + 3 * 60_000), ackCode: 'AA', delivered: 5 });
    await recordLink(redis, prefix, 'pas', { state: 'connected', at: new Date(t0 + 30 * 60_000), ackCode: 'CA', delivered: 1 });
    const read = async (now: number) => (await readLinkStatuses(reader, prefix, ['pas', 'file-drop'], { now }));
    const [now30, other] = await read(t0 + 30 * 60_000);
    assert.deepEqual([now30!.state, now30!.delivered5m, now30!.delivered1h, now30!.lastAck?.code], ['connected', 1, 8, 'CA']);
    assert.deepEqual(other, { destination: 'file-drop', state: 'unknown', delivered5m: 0, delivered1h: 0 });
    let [pas] = await read(t0 + 30 * 60_000 + IDLE_AFTER_MS + 1000);
    assert.equal(pas!.state, 'idle');
    assert.equal(pas!.since, new Date(t0 + 30 * 60_000).toISOString(), 'idle since the last attempt');
    [pas] = await read(t0 + 64 * 60_000);
    assert.equal(pas!.delivered1h, 1, 'buckets older than an hour are not summed');
    const ttl = await reader.ttl(deliveredBucketKey(prefix, 'pas', Math.floor(t0 / 60_000)));
    assert.ok(ttl > 3600 && ttl <= 62 * 60, `a bucket expires after about an hour (ttl ${ttl})`);
    assert.ok((await reader.ttl(linkKey(prefix, 'pas'))) > 0, 'the link hash expires too');
  });

  it('screens ACK text: bounded, single line, long digit runs masked', () => {
    assert.equal(screenAckText('Record\rlocked\x00by\u2028user'), 'Record locked by user');
    assert.equal(screenAckText('NHS 9434765919 DOB 01/01/1980 ref 12345'), 'NHS # DOB # ref 12345');
    assert.equal(screenAckText('x'.repeat(500)).length, 80);
    assert.equal(screenAckText(undefined), '');
  });
});
