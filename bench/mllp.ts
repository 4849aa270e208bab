/*
 * Delivery benchmark: how fast one ordered lane can go, against the sequential MLLP round trip that bounds it.
 * Baseline and subject are measured in the same run on the same machine:
 *   1. baseline: MllpClient → PAS simulator, one message in flight, no Redis (pure MLLP round trip);
 *   2. lane:     enqueueDelivery → lane (Redis list, group-committed) → MllpClient → simulator (Redis with AOF everysec), one destination;
 *   3. lanes:    the same with 4 destinations in parallel.
 * Run: npx tsx bench/mllp.ts [messages]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { parseDestinations } from '../src/config/destinations.js';
import { getDeliveryHistory } from '../src/flows/delivery/history.js';
import { enqueueDelivery, startLaneWorkers } from '../src/flows/delivery/lanes.js';
import { MllpClient } from '../src/protocol/hl7/mllp-client.js';
import { parseDeliveryPolicy } from '../src/flows/delivery/policy.js';
import { startPasSimulator } from '../src/dev/pas-sim.js';
import { startRedisChild } from '../src/dev/redis-child.js';

const N = Number(process.argv[2] ?? 2000);
const adt = (id: string): string =>
  `MSH|^~\\&|BARS|RXX|PAS|RXX|20260101000000||ADT^A04^ADT_A01|${id}|P|2.4\rEVN|A04\rPID|1||9000000009^^^NHS^NH||TEST^SYNTHETIC\r` +
  `PV1|1|O|CLINIC^^^RXX\r`.repeat(4);

async function baseline(): Promise<number> {
  const sim = await startPasSimulator();
  const client = new MllpClient({ host: sim.host, port: sim.port, connectTimeoutMs: 1000, ackTimeoutMs: 5000, keepAlive: true, reconnect: { initialMs: 100, maxMs: 1000 } });
  for (let i = 0; i < 200; i += 1) {
    await client.send(adt(`W${i}`), `W${i}`);
  }
  const t0 = performance.now();
  for (let i = 0; i < N; i += 1) {
    await client.send(adt(`B${i}`), `B${i}`);
  }
  const rate = N / ((performance.now() - t0) / 1000);
  await client.close();
  await sim.close();
  return rate;
}

async function lanes(redisUrl: string, destinationCount: number): Promise<{ rate: number; enqueueRate: number }> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const prefix = `bench${destinationCount}-${Date.now()}`;
  const sims = await Promise.all(Array.from({ length: destinationCount }, () => startPasSimulator()));
  const destinations = parseDestinations(sims.map((s, i) => ({ name: `pas${i}`, kind: 'mllp', host: s.host, port: s.port })));
  const policy = parseDeliveryPolicy({
    backoff: { initialMs: 10, maxMs: 100 },
    maxAttempts: 'forever',
    lock: { leaseMs: 10000, takeoverPollMs: 500 },
    retention: { deliveredTextTtlSeconds: 3600, historyTtlSeconds: 3600 },
  });
  const per = Math.floor(N / destinationCount);
  const te = performance.now();
  for (let i = 0; i < per; i += 1) {
    for (let d = 0; d < destinationCount; d += 1) {
      await enqueueDelivery({ redis, prefix }, { messageId: `m${i}`, destination: `pas${d}`, controlId: `C${i}`, contentType: 'x-application/hl7-v2+er7', text: adt(`C${i}`) });
    }
  }
  const enqueueRate = (per * destinationCount) / ((performance.now() - te) / 1000);
  const t0 = performance.now();
  const workers = await startLaneWorkers({ redis, prefix }, destinations, policy);
  while (sims.some((s) => s.received.length < per)) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const rate = (per * destinationCount) / ((performance.now() - t0) / 1000);
  for (const s of sims) {
    const ids = s.received.map((m) => m.controlId);
    if (ids.some((id, i) => id !== `C${i}`)) {
      throw new Error('order broken');
    }
  }
  await getDeliveryHistory({ redis, prefix }, 'pas0', `m${per - 1}`);
  await workers.close();
  await Promise.all(sims.map((s) => s.close()));
  await redis.quit();
  return { rate, enqueueRate };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'bars-bench-redis-'));
const redisChild = await startRedisChild(dir);
try {
  const base = await baseline();
  const one = await lanes(redisChild.url, 1);
  const four = await lanes(redisChild.url, 4);
  console.log(`node ${process.version}, ${os.cpus().length} CPU (${os.cpus()[0]?.model ?? '?'}), ${N} messages, loopback`);
  console.log(`sequential MLLP round trip (no Redis):        ${base.toFixed(0)} msg/s  (${(1000 / base).toFixed(3)} ms each)`);
  console.log(`enqueueDelivery (awaited, AOF everysec):      ${one.enqueueRate.toFixed(0)} msg/s`);
  console.log(`one ordered lane (Redis + MLLP):               ${one.rate.toFixed(0)} msg/s  (${((one.rate / base) * 100).toFixed(0)}% of the round trip)`);
  console.log(`four lanes in parallel (total):               ${four.rate.toFixed(0)} msg/s`);
} finally {
  await redisChild.stop();
  rmSync(dir, { recursive: true, force: true });
}
