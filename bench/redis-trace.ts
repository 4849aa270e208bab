/*
 * Redis work per referral, by stage and by command (issue 18, "profile first"): counts that do not depend on how
 * loaded the machine is. Starts the e2e rig (private Redis with AOF `appendfsync always`, web and worker processes,
 * PAS simulator), warms up, then sends N referrals at a modest concurrency with Redis MONITOR attached, waits until
 * every one is delivered (AA), and prints
 *   - INFO commandstats deltas per referral (what the issue's target counts: commands run inside scripts included),
 *     and Redis CPU (usec) per referral;
 *   - round trips per referral (top-level commands a client sent; a MULTI..EXEC block counts its commands);
 *   - both split by stage: the key family (state/keys.ts) or BullMQ queue each command touches; a command run by a
 *     script counts toward the stage of the script's first key.
 *
 *   npx tsx bench/redis-trace.ts [--referrals 300] [--concurrency 8] [--json out.json]
 *
 * Background loops (lease renewal, the sequencer's safety flush, BullMQ's stalled-job check) run during the window
 * too; with a few hundred referrals they are a small share, and the per-stage table shows them as their own rows.
 */
import { writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { pathToFileURL } from 'node:url';
import { FAMILIES, QUEUES } from '../src/state/keys.js';
import { loadAvg, numberArg, redisCpuMs, referralPoster, sleep, spawnProc, startBenchRig, waitDelivered, type Verdict } from './lib.js';

type Stage = 'commit (web)' | 'request ledger' | 'inbound job (BullMQ)' | 'message read' | 'outputs' | 'sequencer' | 'lane bookkeeping' | 'responses' | 'other';

const STAGE_OF_FAMILY: Record<string, Stage> = {
  request: 'request ledger',
  pendingEnqueue: 'request ledger',
  message: 'message read',
  messageSeq: 'message read',
  messageOutputs: 'outputs',
  output: 'outputs',
  outputMeta: 'outputs',
  controlId: 'outputs',
  messageMappingFailures: 'outputs',
  mappingFailures: 'outputs',
  sequencerCursor: 'sequencer',
  sequencerReady: 'sequencer',
  sequencerLock: 'sequencer',
};

function stageOfFamily(name: string, owner: string): Stage {
  const s = STAGE_OF_FAMILY[name];
  if (s) {
    return s;
  }
  if (owner === 'intake') {
    return 'commit (web)';
  }
  if (owner === 'delivery') {
    return 'lane bookkeeping';
  }
  if (owner === 'responses') {
    return 'responses';
  }
  return 'other';
}

/** Key → stage, by the key table's patterns (longest literal first, so `msg:<id>:seq` wins over `msg:<id>`). */
export function classifier(prefix: string): (key: string) => Stage | undefined {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const rules = Object.entries(FAMILIES)
    .map(([name, spec]) => ({
      re: new RegExp(`^${esc(prefix)}:${spec.pattern.split(/<[^>]*>/).map(esc).join('.+')}$`),
      stage: stageOfFamily(name, spec.owner),
      literal: spec.pattern.replace(/<[^>]*>/g, '').length,
    }))
    .sort((a, b) => b.literal - a.literal);
  const queues = Object.values(QUEUES).map((q) => ({ p: `${prefix}:${q.name}:`, stage: (q.name === 'inbound' ? 'inbound job (BullMQ)' : q.name === 'responses' ? 'responses' : 'other') as Stage }));
  return (key: string) => {
    for (const q of queues) {
      if (key.startsWith(q.p)) {
        return q.stage;
      }
    }
    for (const r of rules) {
      if (r.re.test(key)) {
        return r.stage;
      }
    }
    return undefined;
  };
}

interface Tally {
  /** Commands as INFO commandstats counts them (script bodies included). */
  commands: Map<string, number>;
  /** Top-level commands sent by clients (round trips, MULTI blocks excepted). */
  sent: Map<string, number>;
}

export interface TraceResult {
  readonly referrals: number;
  readonly verdict: Verdict;
  readonly commandsPerReferral: number;
  readonly usecPerReferral: number;
  /** Redis process CPU (INFO cpu) per referral, ms; includes the AOF writes and network I/O. */
  readonly redisCpuMsPerReferral: number;
  readonly byCommand: Array<{ cmd: string; perReferral: number; usecPerReferral: number }>;
  readonly byStage: Array<{ stage: string; commands: number; sent: number; top: string }>;
  readonly load: string;
}

async function commandstats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) {
      out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
    }
  }
  return out;
}

export async function runTrace(o: { referrals: number; concurrency: number; monitor?: boolean; log?: (s: string) => void }): Promise<TraceResult> {
  const log = o.log ?? ((s: string) => console.log(s));
  const rig = await startBenchRig('trace');
  const { redisChild, redis, prefix, sim, procs } = rig;
  try {
    const common = { redisUrl: redisChild.url, prefix, pasPort: sim.port };
    procs.push(await spawnProc('worker', common));
    const web = await spawnProc('web', common);
    procs.push(web);
    const poster = referralPoster(web.port, o.concurrency);
    const send = async (n: number, acknowledged: string[]): Promise<void> => {
      let next = 0;
      await Promise.all(
        Array.from({ length: o.concurrency }, async () => {
          while (next < n) {
            next += 1;
            const r = await poster.post();
            if (r.status === 200) {
              acknowledged.push(r.reference ?? '(no reference)');
            }
          }
        }),
      );
    };
    const warm: string[] = [];
    await send(Math.min(100, o.referrals), warm);
    await waitDelivered(sim, warm, redis, prefix, 60_000);
    await sim.reset();

    const classify = classifier(prefix);
    const tally: Map<Stage | 'unclassified', Tally> = new Map();
    const bump = (stage: Stage | 'unclassified', cmd: string, sent: boolean): void => {
      const t = tally.get(stage) ?? tally.set(stage, { commands: new Map(), sent: new Map() }).get(stage)!;
      t.commands.set(cmd, (t.commands.get(cmd) ?? 0) + 1);
      if (sent) {
        t.sent.set(cmd, (t.sent.get(cmd) ?? 0) + 1);
      }
    };
    // The first key of a command (EVAL/EVALSHA: after numkeys; others: argument 1).
    const firstKey = (args: string[]): string | undefined => {
      const cmd = args[0]!.toLowerCase();
      if (cmd === 'eval' || cmd === 'evalsha') {
        return Number(args[2]) > 0 ? args[3] : undefined;
      }
      return args[1];
    };
    let scriptStage: Stage | 'unclassified' = 'unclassified';
    const monitor = o.monitor === false ? undefined : await redis.monitor();
    monitor?.on('monitor', (_time: string, args: string[], source: string) => {
      const cmd = args[0]!.toLowerCase();
      if (cmd === 'info' || cmd === 'config' || cmd === 'monitor') {
        return;
      }
      if (source === 'lua') {
        // Commands of a script follow the script's own line (scripts run atomically).
        const key = firstKey(args);
        bump(scriptStage === 'unclassified' ? (key ? (classify(key) ?? 'unclassified') : 'unclassified') : scriptStage, cmd, false);
        return;
      }
      const key = firstKey(args);
      const stage = key ? (classify(key) ?? 'unclassified') : 'unclassified';
      if (cmd === 'eval' || cmd === 'evalsha') {
        scriptStage = stage;
      }
      bump(stage, cmd, true);
    });
    await redis.config('RESETSTAT');
    const cpu0 = await redisCpuMs(redis);
    const acknowledged: string[] = [];
    const load0 = loadAvg();
    await send(o.referrals, acknowledged);
    // Wait for delivery reading the simulator only, then read the counters before the verifier's own reads.
    for (let i = 0; i < 1200; i++) {
      const done = new Set((await sim.dump()).filter((r) => r[1] === 'REF^I12' && r[3] === 'AA').map((r) => r[2]));
      if (acknowledged.every((r) => done.has(r))) {
        break;
      }
      await sleep(100);
    }
    await sleep(300); // the last ADT^A05's step
    const stats = await commandstats(redis);
    const cpuMs = (await redisCpuMs(redis)) - cpu0;
    monitor?.disconnect();
    const verdict = await waitDelivered(sim, acknowledged, redis, prefix, 10_000);
    poster.close();
    const n = acknowledged.length;
    const ignore = new Set(['info', 'config', 'monitor']);
    let calls = 0;
    let usec = 0;
    const byCommand: TraceResult['byCommand'] = [];
    for (const [cmd, s] of stats) {
      if (ignore.has(cmd)) {
        continue;
      }
      calls += s.calls;
      usec += s.usec;
      byCommand.push({ cmd, perReferral: s.calls / n, usecPerReferral: s.usec / n });
    }
    byCommand.sort((a, b) => b.perReferral - a.perReferral);
    const byStage = [...tally.entries()]
      .map(([stage, t]) => {
        const commands = [...t.commands.values()].reduce((a, b) => a + b, 0) / n;
        const sent = [...t.sent.values()].reduce((a, b) => a + b, 0) / n;
        const top = [...t.commands.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 6)
          .map(([c, k]) => `${c} ${(k / n).toFixed(2)}`)
          .join(', ');
        return { stage, commands, sent, top };
      })
      .sort((a, b) => b.commands - a.commands);
    const load = `${load0} → ${loadAvg()}`;
    const out: TraceResult = { referrals: n, verdict, commandsPerReferral: calls / n, usecPerReferral: usec / n, redisCpuMsPerReferral: cpuMs / n, byCommand, byStage, load };
    log(`redis per referral: ${n} referrals (concurrency ${o.concurrency}), AOF appendfsync always, load average ${load}`);
    log(`  lost ${verdict.lost.length}, duplicated under another MSH-10 ${verdict.duplicatedUnderAnotherControlId}, out of order ${verdict.outOfOrder}`);
    log(`  INFO commandstats: ${out.commandsPerReferral.toFixed(1)} commands and ${(out.usecPerReferral / 1000).toFixed(3)} ms in commands (usec) per referral; Redis process CPU (INFO cpu) ${out.redisCpuMsPerReferral.toFixed(3)} ms per referral${monitor ? ' (MONITOR attached: run --no-monitor for CPU)' : ''}`);
    log(`  by command: ${byCommand.slice(0, 14).map((c) => `${c.cmd} ${c.perReferral.toFixed(2)} (${c.usecPerReferral.toFixed(0)} µs)`).join('; ')}`);
    if (monitor) {
      log('  by stage (MONITOR; commands incl. script bodies / round trips sent by clients, per referral):');
      for (const s of byStage) {
        log(`    ${s.stage.padEnd(22)} ${s.commands.toFixed(2).padStart(6)} ${s.sent.toFixed(2).padStart(6)}   ${s.top}`);
      }
    }
    return out;
  } finally {
    await rig.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runTrace({ referrals: numberArg('referrals', 300), concurrency: numberArg('concurrency', 8), monitor: !process.argv.includes('--no-monitor') });
  const ji = process.argv.indexOf('--json');
  if (ji >= 0) {
    writeFileSync(process.argv[ji + 1]!, JSON.stringify(r, null, 2));
  }
  await sleep(0);
}
