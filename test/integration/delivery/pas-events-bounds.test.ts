/*
 * Issue 14 probes against the PAS events listener on real sockets and the test Redis: who may send, what an MSH must
 * hold, and how much a peer can make it hold (frames, idle and connection count, field sizes), plain and over TLS.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { buildArrivalA04, sendPasEvent } from '../../../src/dev/pas-sim-events.js';
import { createCa, issueClientCert, readPem } from '../../../src/dev/certs.js';
import { MllpDecoder, encodeFrame } from '../../../src/protocol/hl7/mllp-framing.js';
import { readAck } from '../../../src/protocol/hl7/header.js';
import { pasEventKey, startPasEventsListener, type PasEventsListener, type PasEventsListenerOptions } from '../../../src/flows/pas-events/listener.js';
import { testCerts } from '../../helpers/harness.js';
import { testRedis, uniquePrefix } from './helpers.js';

const ALLOW = ['PAS^RXX', 'OTHERPAS^RYY'];

/** A logger whose lines are kept for this file (lengths are asserted). */
function recordingLogger(): { lines: string[]; logger: pino.Logger } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, sink) };
}

const msh = (fields: { app?: string; facility?: string; type?: string; control?: string; processing?: string; version?: string }): string =>
  `MSH|^~\\&|${fields.app ?? 'PAS'}|${fields.facility ?? 'RXX'}|BARS|RXX|20261208010000||${fields.type ?? 'ADT^A04^ADT_A01'}|${fields.control ?? 'C1'}|${fields.processing ?? 'P'}|${fields.version ?? '2.4'}\r` +
  'EVN|A04|20261208010000\rPID|1||9000000009^^^NHS^NH||TEST^PATIENT\rPV1|1|E||||||||||||||||||V1\r';

/** Sends raw bytes on a new connection and returns the first frame answered, or undefined if the connection closed first. */
async function exchange(port: number, bytes: Buffer, timeoutMs = 3000): Promise<{ ack: string | undefined; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const decoder = new MllpDecoder();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ack: undefined, closed: false });
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      const [frame] = decoder.push(chunk);
      if (frame) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ ack: frame.toString('utf8'), closed: false });
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ ack: undefined, closed: true });
    });
    socket.write(bytes);
  });
}

/** Resolves when the socket is closed by the other side, with the time it took. */
const closedWithin = (socket: net.Socket, timeoutMs: number): Promise<number | undefined> =>
  new Promise((resolve) => {
    const started = Date.now();
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });

const connect = (port: number): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.resume(); // read (and drop) what the listener sends, so its close is seen
    s.on('error', () => undefined);
    s.once('error', reject);
  });

describe('PAS events listener: senders, MSH checks and bounds (issue 14)', function () {
  this.timeout(30_000);
  let redis: Redis;
  let listener: PasEventsListener | undefined;
  let prefix: string;
  let log: ReturnType<typeof recordingLogger>;

  const start = async (options: Partial<PasEventsListenerOptions> = {}): Promise<PasEventsListener> => {
    listener = await startPasEventsListener({ redis, prefix, port: 0, allow: ALLOW, logger: log.logger, ...options });
    return listener;
  };
  /** Keys under the prefix other than the queue's own metadata (BullMQ writes it when the queue is created). */
  const storedKeys = async (): Promise<string[]> => (await redis.keys(`${prefix}:*`)).filter((k) => !k.endsWith(':pas-events:meta'));

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix('pasev-bounds');
    log = recordingLogger();
  });
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
    redis.disconnect();
  });

  it('listens on 127.0.0.1 unless told otherwise', async () => {
    const l = await startPasEventsListener({ redis, prefix, port: 0, allow: ALLOW });
    listener = l;
    const other = Object.values((await import('node:os')).networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (other) {
      const result = await new Promise<string>((resolve) => {
        const s = net.connect(l.port, other, () => resolve('connected'));
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        s.setTimeout(1000, () => resolve('timeout'));
      });
      assert.notEqual(result, 'connected', `reachable on ${other}`);
    }
    const ok = await sendPasEvent({ host: '127.0.0.1', port: l.port }, msh({ control: 'LOOP1' }), 'LOOP1');
    assert.equal(ok.code, 'AA');
  });

  it('answers AR to a sender not in PAS_EVENTS_ALLOW, with the reason in MSA-3 and ERR, and stores nothing', async () => {
    const l = await start();
    const text = buildArrivalA04({ controlId: 'EVIL1', patientId: '9000000009', visitNumber: 'BB-AAAAAA', sendingApplication: 'ATTACKER', sendingFacility: 'RXX', messageType: 'ADT^A03^ADT_A03' });
    const { ack } = await exchange(l.port, encodeFrame(text));
    assert.ok(ack, 'answered');
    const parsed = readAck(ack);
    assert.equal(parsed.code, 'AR');
    assert.equal(parsed.controlId, 'EVIL1', 'MSA-2 echoes MSH-10');
    assert.match(parsed.text ?? '', /MSH-3\/MSH-4/);
    assert.match(ack, /\rERR\|MSH\^1\^3\^103&[^|]*&HL70357\|MSH\^1\^3\|103\^/, 'ERR: table 0357 code 103 at MSH-3');
    assert.deepEqual(await storedKeys(), [], 'nothing stored, nothing queued');
    // A sender whose application is allowed but from another facility is another sender.
    const wrongFacility = await exchange(l.port, encodeFrame(msh({ app: 'PAS', facility: 'RYY', control: 'EVIL2' })));
    assert.equal(readAck(wrongFacility.ack!).code, 'AR');
    assert.deepEqual(await storedKeys(), []);
  });

  const malformed: Array<{ name: string; text: string; code: 'AR' | 'AE'; controlId: string; err: RegExp }> = [
    { name: 'empty MSH-9', text: msh({ type: '', control: 'M1' }), code: 'AR', controlId: 'M1', err: /\|200\^/ },
    { name: 'empty MSH-10', text: msh({ control: '' }), code: 'AE', controlId: '', err: /\|101\^/ },
    { name: 'unsupported version 9.9 in MSH-12', text: msh({ version: '9.9', control: 'M3' }), code: 'AR', controlId: 'M3', err: /\|203\^/ },
    { name: 'unknown message type ZZZ^Z99', text: msh({ type: 'ZZZ^Z99', control: 'M4' }), code: 'AR', controlId: 'M4', err: /\|200\^/ },
    { name: 'unknown trigger event ADT^Z99', text: msh({ type: 'ADT^Z99', control: 'M5' }), code: 'AR', controlId: 'M5', err: /\|201\^/ },
    { name: 'processing id X in MSH-11', text: msh({ processing: 'X', control: 'M6' }), code: 'AR', controlId: 'M6', err: /\|202\^/ },
  ];
  for (const m of malformed) {
    it(`malformed MSH (${m.name}) is answered ${m.code}, never AA, MSA-2 echoing MSH-10, and stores nothing`, async () => {
      const l = await start();
      const { ack } = await exchange(l.port, encodeFrame(m.text));
      assert.ok(ack, 'answered');
      const parsed = readAck(ack);
      assert.equal(parsed.code, m.code);
      assert.equal(parsed.controlId, m.controlId);
      assert.ok(parsed.text, 'MSA-3 says why');
      assert.match(ack, m.err);
      assert.match(ack, /^MSH\|[^\r]*\|2\.4\r/, 'the ACK is in a version we support');
      assert.deepEqual(await storedKeys(), []);
    });
  }

  it('de-duplicates per sender: another sender using the same MSH-10 first cannot suppress the real event', async () => {
    const l = await start();
    // Not allowed at all: refused, and claims nothing.
    const forged = await exchange(l.port, encodeFrame(msh({ app: 'ATTACKER', facility: 'RXX', control: 'REAL1' })));
    assert.equal(readAck(forged.ack!).code, 'AR');
    // Allowed, but another sender: stored as its own event.
    const other = await sendPasEvent({ host: '127.0.0.1', port: l.port }, msh({ app: 'OTHERPAS', facility: 'RYY', control: 'REAL1' }), 'REAL1');
    assert.equal(other.code, 'AA');
    const real = await sendPasEvent({ host: '127.0.0.1', port: l.port }, msh({ control: 'REAL1' }), 'REAL1');
    assert.equal(real.code, 'AA');
    const jobs = await l.queue.getJobs(['waiting']);
    assert.equal(jobs.length, 2, 'the real event is queued, not taken for a duplicate');
    const texts = await Promise.all(jobs.map((j) => redis.get(pasEventKey(prefix, j.data.eventId))));
    assert.ok(texts.some((t) => t?.startsWith('MSH|^~\\&|PAS|RXX|')), 'the real text is stored');
    // A true resend from the same sender is still a duplicate.
    await sendPasEvent({ host: '127.0.0.1', port: l.port }, msh({ control: 'REAL1' }), 'REAL1');
    assert.equal((await l.queue.getJobs(['waiting'])).length, 2);
    const seen = (await storedKeys()).filter((k) => k.includes(':pasev:seen:'));
    assert.equal(seen.length, 2);
    assert.ok(seen.every((k) => k.length < prefix.length + 100), 'keys are bounded (a hash, not the fields)');
  });

  it('a 1 MB MSH field is refused and neither stored nor logged whole', async () => {
    const l = await start({ maxFrameBytes: 2 * 1024 * 1024 });
    const huge = 'A'.repeat(1_000_000);
    for (const text of [msh({ control: huge }), msh({ app: huge }), msh({ type: `ADT^A04^${huge}`, control: 'BIGTYPE' })]) {
      const { ack } = await exchange(l.port, encodeFrame(text));
      assert.ok(ack, 'answered');
      assert.notEqual(readAck(ack).code, 'AA');
      assert.ok(ack.length < 1000, `ACK of ${ack.length} characters`);
    }
    assert.deepEqual(await storedKeys(), [], 'no key, no text stored');
    const longest = Math.max(...log.lines.map((line) => line.length));
    assert.ok(longest < 1000, `longest log line ${longest} characters`);
    assert.ok(log.lines.length >= 3);
  });

  it('refuses a frame over PAS_EVENTS_MAX_FRAME_BYTES with AR and closes the connection', async () => {
    const l = await start({ maxFrameBytes: 64 * 1024 });
    const text = msh({ control: 'BIG1' }) + `NTE|1||${'x'.repeat(100 * 1024)}\r`;
    const { ack, closed } = await exchange(l.port, encodeFrame(text));
    assert.ok(ack !== undefined || closed, 'answered or closed');
    if (ack) {
      const parsed = readAck(ack);
      assert.equal(parsed.code, 'AR');
      assert.equal(parsed.controlId, 'BIG1');
      assert.match(parsed.text ?? '', /exceeds 65536 bytes/);
    }
    assert.deepEqual(await storedKeys(), []);
    // The default is 1 MiB.
    await l.close();
    listener = undefined;
    const d = await start();
    const over = await exchange(d.port, encodeFrame(msh({ control: 'BIG2' }) + `NTE|1||${'x'.repeat(1024 * 1024)}\r`));
    assert.ok(over.ack === undefined || readAck(over.ack).code === 'AR');
    assert.deepEqual(await storedKeys(), []);
  });

  it('20 connections holding 15 MB partial frames are closed and the memory comes back', async function () {
    this.timeout(60_000);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const l = await start();
    gc();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    let peakBuffers = before.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    }, 20);
    const chunk = Buffer.alloc(64 * 1024, 0x41); // one buffer written again and again: the sender holds 64 KiB
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const socket = await connect(l.port);
        let closed = false;
        socket.once('close', () => (closed = true));
        const done = closedWithin(socket, 15_000);
        socket.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(msh({ control: `PART${i}` }))]));
        let sent = 0;
        while (!closed && sent < 15 * 1024 * 1024) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            await Promise.race([once(socket, 'drain').catch(() => undefined), done, new Promise((r) => setTimeout(r, 200))]);
          }
        }
        return { ms: await done, sent };
      }),
    );
    clearInterval(sampler);
    const allClosedMs = Date.now() - started;
    // Collected garbage is returned lazily: give it a few rounds.
    let after = process.memoryUsage();
    for (let i = 0; i < 10 && after.arrayBuffers - before.arrayBuffers > 5 * 1024 * 1024; i++) {
      await new Promise((r) => setTimeout(r, 200));
      gc();
      after = process.memoryUsage();
    }
    const mb = (n: number): number => Math.round((n / 1024 / 1024) * 10) / 10;
    const figures = {
      closed: results.filter((r) => r.ms !== undefined).length,
      allClosedMs,
      maxSentMb: mb(Math.max(...results.map((r) => r.sent))),
      rssBeforeMb: mb(before.rss),
      rssPeakGrowthMb: mb(peakRss - before.rss),
      rssAfterGrowthMb: mb(after.rss - before.rss),
      buffersPeakGrowthMb: mb(peakBuffers - before.arrayBuffers),
      buffersAfterGrowthMb: mb(after.arrayBuffers - before.arrayBuffers),
    };
    console.log(`      memory probe: ${JSON.stringify(figures)}`);
    assert.equal(figures.closed, 20, 'every connection closed by the listener');
    assert.ok(figures.maxSentMb < 15, 'no connection got to send its 15 MB');
    assert.ok(figures.buffersPeakGrowthMb < 60, `buffers grew by ${figures.buffersPeakGrowthMb} MB at the peak`);
    assert.ok(figures.buffersAfterGrowthMb < 5, `buffers ${figures.buffersAfterGrowthMb} MB above the start after close`);
    assert.ok(figures.rssPeakGrowthMb < 120, `RSS grew by ${figures.rssPeakGrowthMb} MB at the peak`);
    assert.deepEqual(await storedKeys(), []);
  });

  it('closes a connection idle for PAS_EVENTS_IDLE_TIMEOUT_MS, and keeps a busy one', async () => {
    const l = await start({ idleTimeoutMs: 300 });
    const idle = await connect(l.port);
    const idleClosed = closedWithin(idle, 3000);
    const busy = await connect(l.port);
    const busyClosed = closedWithin(busy, 3000);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      busy.write(encodeFrame(msh({ control: `BUSY${i}` })));
    }
    const ms = await idleClosed;
    console.log(`      idle probe: closed after ${ms} ms (timeout 300 ms)`);
    assert.ok(ms !== undefined, 'idle connection closed');
    // No lower bound: the listener's timer starts at accept, before this client's connect callback runs under load.
    // The busy connection below, open longer than the timeout, shows it is idleness that closes, not age.
    assert.ok(ms < 2000, `closed after ${ms} ms`);
    assert.equal(busy.destroyed, false, 'a connection with traffic stays open');
    assert.ok((await busyClosed) !== undefined, 'and closes once idle');
  });

  it('refuses connections over PAS_EVENTS_MAX_CONNECTIONS and accepts again once one closes', async () => {
    const l = await start({ maxConnections: 3 });
    const open = await Promise.all([connect(l.port), connect(l.port), connect(l.port)]);
    await new Promise((r) => setTimeout(r, 100));
    const extra = await connect(l.port);
    assert.ok((await closedWithin(extra, 2000)) !== undefined, 'the fourth connection is closed by the listener');
    for (const s of open) {
      assert.equal(s.destroyed, false);
    }
    open[0]!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const ack = await sendPasEvent({ host: '127.0.0.1', port: l.port }, msh({ control: 'CAP1' }), 'CAP1');
    assert.equal(ack.code, 'AA');
    open.forEach((s) => s.destroy());
  });

  describe('over TLS', () => {
    it('with PAS_EVENTS_TLS_CA requires a client certificate from that CA', async () => {
      const certs = testCerts();
      const l = await start({ tls: { cert: readPem(certs.serverCert), key: readPem(certs.serverKey), ca: readPem(certs.caCert) } });
      const trust = { ca: readPem(certs.caCert), servername: 'localhost' };
      const good = await sendPasEvent({ host: '127.0.0.1', port: l.port, tls: { ...trust, cert: readPem(certs.clientCert), key: readPem(certs.clientKey) } }, msh({ control: 'TLS1' }), 'TLS1');
      assert.equal(good.code, 'AA');

      const refused = async (options: tls.ConnectionOptions): Promise<boolean> =>
        new Promise((resolve) => {
          const s = tls.connect({ host: '127.0.0.1', port: l.port, ...trust, ...options }, () => {
            s.write(encodeFrame(msh({ control: 'TLSX' })));
          });
          s.on('data', () => resolve(false));
          s.on('error', () => resolve(true));
          s.on('close', () => resolve(true));
          s.setTimeout(3000, () => resolve(false));
        });
      assert.equal(await refused({}), true, 'no client certificate: refused');
      const otherCa = createCa('other CA');
      const stranger = issueClientCert(otherCa.cert, otherCa.key, 'stranger');
      assert.equal(await refused({ cert: stranger.cert, key: stranger.key }), true, 'a certificate of another CA: refused');
      assert.equal((await l.queue.getJobs(['waiting'])).length, 1, 'only the authenticated event is queued');
      // Plain MLLP to a TLS port gets nothing.
      const plain = await exchange(l.port, encodeFrame(msh({ control: 'PLAIN' })), 2000);
      assert.equal(plain.ack, undefined);
    });

    it('without a CA serves TLS to any client (server authentication only)', async () => {
      const certs = testCerts();
      const l = await start({ tls: { cert: readPem(certs.serverCert), key: readPem(certs.serverKey) } });
      const ack = await sendPasEvent({ host: '127.0.0.1', port: l.port, tls: { ca: readPem(certs.caCert), servername: 'localhost' } }, msh({ control: 'TLS2' }), 'TLS2');
      assert.equal(ack.code, 'AA');
    });
  });
});
