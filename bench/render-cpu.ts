/*
 * CPU per referral of the worker's mapping path: the mappings the inbound processor selects for the 111→ED example
 * referral (ADT^A05 and REF^I12), rendered back to back for one message, measured in process CPU time
 * (process.cpuUsage, user + system), not wall time, because the bench machines are shared.
 *
 *   npx tsx bench/render-cpu.ts                         this tree only
 *   BENCH_BASELINE=../other-checkout npx tsx bench/render-cpu.ts
 *       also loads the mapping modules of another checkout (the baseline) into the same process and alternates
 *       rounds of the two, printing CPU ms per referral of each and the ratio. Both must render identical bytes.
 *   BENCH_ROUNDS=6 BENCH_MESSAGES=1500 (defaults) set the size. `node --cpu-prof --import tsx bench/render-cpu.ts`
 *   profiles it.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bundle, StoredMessage } from '../src/protocol/bars/types.js';
import type * as MappingApi from '../src/mapping/index.js';
import type { CompiledMapping, RenderedOutput, RenderOptions } from '../src/mapping/index.js';
import type * as StoredMessageApi from '../src/mapping/stored-message.js';
import { igExample } from '../test/external/nhs-material.js';

const EXAMPLE = igExample('referral-request_new_111-to-ED_APP1_REFREQ01.json');

interface Side {
  readonly name: string;
  readonly mappings: CompiledMapping[];
  readonly message: StoredMessage;
  /** Renders every selected mapping of one message (the way the inbound processor does). */
  readonly renderAll: (msg: StoredMessage, opts: RenderOptions) => RenderedOutput[];
}

async function side(name: string, root: string): Promise<Side> {
  const mapping = (await import(pathToFileURL(resolve(root, 'src/mapping/index.ts')).href)) as typeof MappingApi;
  const stored = (await import(pathToFileURL(resolve(root, 'src/mapping/stored-message.ts')).href)) as typeof StoredMessageApi;
  const registry = mapping.loadMappings(resolve(root, 'mappings'));
  const message = stored.storedMessageFromBundle(JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Bundle);
  const mappings = registry.select(message).filter((m) => m.destination === 'pas');
  // A tree with `messageRenderer` shares one environment between the mappings of a message (as the worker does).
  const perMessage = (mapping as { messageRenderer?: (msg: StoredMessage) => (m: CompiledMapping, opts: RenderOptions) => RenderedOutput }).messageRenderer;
  const renderAll = perMessage
    ? (msg: StoredMessage, opts: RenderOptions): RenderedOutput[] => {
        const render = perMessage(msg);
        return mappings.map((m) => render(m, opts));
      }
    : (msg: StoredMessage, opts: RenderOptions): RenderedOutput[] => mappings.map((m) => mapping.renderMessage(m, msg, opts));
  return { name, mappings, message, renderAll };
}

/** CPU ms per referral over `n` referrals. */
function round(s: Side, n: number): number {
  const opts = { now: new Date('2024-03-01T09:30:05Z'), controlId: 'BENCH1' };
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {s.renderAll(s.message, opts);}
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
  const n = Number(process.env.BENCH_MESSAGES ?? 1500);
  const sides = [await side('this tree', resolve(import.meta.dirname, '..'))];
  if (process.env.BENCH_BASELINE) {sides.unshift(await side(`baseline ${process.env.BENCH_BASELINE}`, process.env.BENCH_BASELINE));}
  const opts = { now: new Date('2024-03-01T09:30:05Z'), controlId: 'BENCH1' };
  const texts = sides.map((s) => s.renderAll(s.message, opts).map((o) => o.text).join('\n'));
  if (texts.some((t) => t !== texts[0])) {throw new Error('the sides render different bytes');}
  console.log(`mappings ${sides[0].mappings.map((m) => m.id).join(' + ')}; ${n} referrals a round, ${rounds} rounds a side, alternating`);
  for (const s of sides) {round(s, Math.ceil(n / 3));} // warm-up
  const results = sides.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    sides.forEach((s, i) => results[i].push(round(s, n)));
  }
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  sides.forEach((s, i) => {
    const m = median(results[i]);
    console.log(`  ${s.name}: ${m.toFixed(3)} CPU ms per referral (median; rounds ${results[i].map((x) => x.toFixed(3)).join(' ')}), ${(1000 / m).toFixed(0)} referrals/s per core`);
  });
  if (sides.length === 2) {console.log(`  ratio baseline/this tree: ${(median(results[0]) / median(results[1])).toFixed(2)}x  (load average ${load})`);}
  else {console.log(`  load average ${load}`);}
}

await main();
