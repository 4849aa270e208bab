/*
 * The key table (src/state/keys.ts) is the only place a Redis key is spelled, every family in it says how it goes
 * away (retention is a data-protection function: a family nobody prunes is a record kept for ever), and the names it
 * builds are the names already in Redis. Retention's deletion itself is checked on a real Redis in
 * test/integration/ops/retention.test.ts; the Lua key functions in test/integration/state/keys-lua.test.ts.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AUDIT_LISTS } from '../../../src/state/audit-log.js';
import { FAMILIES, QUEUES, keysOf, keyspace, type FamilyName, type FamilySpec, type Flow } from '../../../src/state/keys.js';

const FLOWS: readonly Flow[] = ['intake', 'inbound', 'delivery', 'pas-events', 'responses', 'diary', 'ops'];
const families = Object.entries(FAMILIES) as Array<[FamilyName, FamilySpec]>;

/**
 * The key of every family for fixed arguments, as the code wrote it before the table existed (data in Redis must
 * stay readable: a pattern never changes once released). A new family adds its line here.
 */
const GOLDEN: Record<FamilyName, string> = {
  request: 'P:req:a1',
  bundle: 'P:bundle:a1',
  message: 'P:msg:a1',
  messageSeq: 'P:msg:a1:seq',
  record: 'P:rec:a1:a2',
  recordVersions: 'P:rec:a1:a2:versions',
  index: 'P:idx:a1:a2',
  slot: 'P:slot:a1',
  pendingEnqueue: 'P:pending-enqueue',
  messages: 'P:messages',
  receivedSeq: 'P:seq:received',
  messageOutputs: 'P:msg:a1:outputs',
  messageMappingFailures: 'P:msg:a1:mapping-failures',
  mappingFailures: 'P:mapping-failures',
  output: 'P:out:a1',
  outputMeta: 'P:out:a1:meta',
  controlId: 'P:ctl:a1',
  sequencerCursor: 'P:seq:flushed',
  sequencerReady: 'P:seq:ready',
  sequencerLock: 'P:seq:lock',
  lane: 'P:lane:a1',
  laneLease: 'P:lane:a1:lease',
  laneReadTo: 'P:lane:a1:readTo',
  deliveryHistory: 'P:dlv:hist:a1:a2',
  deliveryEvents: 'P:dlv:events:a1:a2',
  deliveryText: 'P:dlv:text:a1:a2',
  deliveryDestinations: 'P:dlv:dests:a1',
  deadLetter: 'P:dlv:deadrec:a1:a2',
  deadLetters: 'P:dlv:dead',
  deadLetterGuard: 'P:dlv:replaying:a1:a2',
  deliveryBlockers: 'P:dlv:blockers:a1:a2',
  deliveryHeld: 'P:dlv:held:a1:a2',
  deliveryBlocked: 'P:dlv:blocked:a1',
  deliveryAudit: 'P:dlv:audit',
  link: 'P:link:a1',
  linkDelivered: 'P:link:a1:dlv:a2',
  pasEvent: 'P:pasev:msg:a1',
  pasEventSeen: 'P:pasev:seen:a1',
  pasEventsNoRule: 'P:pasev:no-rule',
  pasEventsUnmatched: 'P:pasev:unmatched',
  recordEvents: 'P:rec:a1:a2:events',
  response: 'P:resp:a1',
  responseLane: 'P:resp:lane:a1',
  responseLanes: 'P:resp:lanes',
  recordResponses: 'P:resp:rec:a1',
  responseDeadLetters: 'P:resp:dead',
  responseAudit: 'P:resp:audit',
  diaryAppointments: 'P:diary:appts:a1',
  diarySeen: 'P:diary:seen',
  diaryConflicts: 'P:diary:conflicts',
  diaryConflict: 'P:diary:conflict:a1',
  traceAudit: 'P:audit:trace',
  retentionLock: 'P:retention:lock',
  alertHistory: 'P:alerts:history',
  mappingsActive: 'P:mappings:active',
  consoleSession: 'P:console:session:a1',
};

describe('key table (src/state/keys.ts)', function () {
  it('builds exactly the key names already in Redis, for every family', function () {
    const k = keyspace('P') as unknown as Record<string, (...args: string[]) => string>;
    for (const [name] of families) {
      assert.ok(name in GOLDEN, `family ${name} has no expected key in GOLDEN (add the name it builds)`);
      assert.equal(k[name]!('a1', 'a2', 'a3'), GOLDEN[name], name);
    }
    assert.deepEqual(Object.keys(GOLDEN).sort(), families.map(([n]) => n).sort(), 'GOLDEN names a family the table no longer has');
    assert.equal(keyspace('{bars}').messageSeq('m-1'), '{bars}:msg:m-1:seq');
    assert.equal(keyspace('{bars}'), keyspace('{bars}'), 'one keyspace per prefix');
  });

  it('gives every family a type, an owning flow and a retention rule that says how it goes', function () {
    const patterns = new Set<string>();
    for (const [name, spec] of families) {
      assert.ok(['string', 'hash', 'list', 'set', 'zset'].includes(spec.type), `${name}: type ${spec.type}`);
      assert.ok(FLOWS.includes(spec.owner), `${name}: owner ${spec.owner}`);
      assert.ok(!patterns.has(spec.pattern), `${name}: pattern ${spec.pattern} declared twice`);
      patterns.add(spec.pattern);
      const rule = spec.retention as FamilySpec['retention'] | undefined;
      assert.ok(rule, `${name} has no retention rule`);
      switch (rule.how) {
        case 'with':
          assert.ok(['message', 'output', 'record', 'response', 'pas-event'].includes(rule.scope), `${name}: scope ${rule.scope}`);
          assert.equal(typeof rule.keys, 'function', `${name}: a "with" rule names its keys`);
          if (rule.member) {
            assert.ok(spec.type === 'set' || spec.type === 'zset', `${name}: only a set or sorted set can lose a member`);
          }
          break;
        case 'audit':
          assert.ok((AUDIT_LISTS as readonly string[]).includes(name), `${name}: an audit family must be in AUDIT_LISTS (state/audit-log.ts) to be pruned`);
          break;
        case 'ttl':
        case 'bounded':
        case 'kept':
          assert.ok(rule.note.trim().length >= 10, `${name}: a ${rule.how} rule says why/how (note)`);
          break;
        default:
          assert.fail(`${name}: unknown retention rule ${JSON.stringify(rule)}`);
      }
    }
    assert.deepEqual([...AUDIT_LISTS].sort(), families.filter(([, s]) => s.retention.how === 'audit').map(([n]) => n).sort(), 'AUDIT_LISTS names a family whose rule is not audit');
    for (const [name, q] of Object.entries(QUEUES)) {
      assert.ok(FLOWS.includes(q.owner) && q.retention.length > 10, `queue ${name}`);
    }
  });

  it('lists, for each scope, the keys retention deletes (keepBundleIds keeps the Bundle.id marker)', function () {
    const message = { id: 'm1', requestId: 'r1', bundleId: 'b1' };
    const gone = keysOf('P', 'message', message).map((k) => (k.member ? `${k.key} ∋ ${k.member}` : k.key)).sort();
    assert.deepEqual(gone, [
      'P:bundle:b1',
      'P:mapping-failures ∋ m1',
      'P:messages ∋ m1',
      'P:msg:m1',
      'P:msg:m1:mapping-failures',
      'P:msg:m1:outputs',
      'P:msg:m1:seq',
      'P:pending-enqueue ∋ m1',
      'P:req:r1',
    ]);
    assert.ok(!keysOf('P', 'message', message, new Set(['keepBundleIds'])).some((k) => k.family === 'bundle'));
    const record = keysOf('P', 'record', { type: 'ServiceRequest', id: 's1', slotId: 'x', indexTerms: [['nhs', '9000000009']] });
    assert.deepEqual(record.map((k) => (k.member ? `${k.key} ∋ ${k.member}` : k.key)).sort(), [
      'P:idx:nhs:9000000009 ∋ ServiceRequest/s1',
      'P:rec:ServiceRequest:s1',
      'P:rec:ServiceRequest:s1:events',
      'P:rec:ServiceRequest:s1:versions',
      'P:resp:rec:s1',
      'P:slot:x ∋ s1',
    ]);
    // An output whose meta is gone: only what is keyed by its delivery id can be named.
    assert.deepEqual(keysOf('P', 'output', { deliveryId: 'm1.map' }).map((k) => k.key).sort(), ['P:dlv:dests:m1.map', 'P:out:m1.map', 'P:out:m1.map:meta']);
  });
});

// ---- nothing outside src/state/ spells a key ----

const SRC = path.resolve('src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Code without comments (a comment may name a key family; only code builds keys). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** The first literal segment of each family with arguments (`dlv:hist:`, `msg:`) and each argument-free pattern containing a colon. */
const FRAGMENTS = [...new Set(families.map(([, s]) => (s.pattern.includes('<') ? s.pattern.slice(0, s.pattern.indexOf('<')) : s.pattern)))].filter((f) => f.includes(':'));

/** The literal tail of each family that ends in one (`:seq`, `:meta`, `:lease`): spelled after another key, `${recKey}:versions`. */
const SUFFIXES = [...new Set(families.map(([, s]) => s.pattern.slice(s.pattern.lastIndexOf('>') + 1)).filter((t) => t.startsWith(':') && t.length > 1))];

/**
 * Lines that build a key by hand: after a prefix (`${prefix}:`), through the old store.key('…'), or with a family's
 * literal spelling after a colon (`…:dlv:hist:`), whole (`'seq:received'`) or as the tail of another key (`${recKey}:versions`).
 */
function keySpellings(source: string): string[] {
  const hits: string[] = [];
  code(source)
    .split('\n')
    .forEach((line, i) => {
      const literals = (line.match(/'[^'\n]*'|"[^"\n]*"|`[^`\n]*`/g) ?? []).map((l) => l.slice(1, -1));
      const why =
        /\$\{[\w.]*prefix\}:/i.test(line) || /prefix\s*\+\s*['"`]:/i.test(line)
          ? "prefix + ':'"
          : /\.key\(\s*['"`]/.test(line)
            ? ".key('…')"
            : (FRAGMENTS.find((f) => literals.some((text) => text.includes(`:${f}`) || text === f)) ??
              SUFFIXES.find((t) => literals.some((text) => text.endsWith(`}${t}`))));
      if (why) {
        hits.push(`line ${i + 1}: ${line.trim()}  [${why}]`);
      }
    });
  return hits;
}

describe('key spellings outside src/state/', function () {
  it('finds none: every key comes from the key table', function () {
    const found: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const rel = path.relative(SRC, file);
      if (rel.startsWith(`state${path.sep}`)) {
        continue;
      }
      found.push(...keySpellings(readFileSync(file, 'utf8')).map((hit) => `src/${rel} ${hit}`));
    }
    assert.deepEqual(found, [], 'build these keys with keyspace(prefix) (src/state/keys.ts), adding the family there if it is new');
  });

  it('recognises the spellings it looks for, and leaves other strings alone', function () {
    const bad = [
      'const k = `${prefix}:msg:${id}`;',
      'redis.get(`${store.prefix}:out:${id}:meta`);',
      "store.key('msg', id, 'seq');",
      "redis.zcard('{bars}:dlv:dead');",
      "const k = prefix + ':retention:lock';",
      "redis.zcard(k + ':dlv:dead');",
      "appendAudit(redis, prefix, 'dlv:audit', entry);",
      "redis.get(`${p}:seq:received`);",
      'redis.lrange(`${recKey}:versions`, 0, -1);',
      'redis.get(`${this.key(\'out\', d)}:meta`);',
    ];
    for (const line of bad) {
      assert.equal(keySpellings(line).length, 1, line);
    }
    const fine = [
      "metrics.inc({ kind: 'messages' });",
      "log.info({ outputs: 3 }, 'inbound message mapped');",
      "const url = 'https://fhir.nhs.uk/Id/nhs-number';",
      '// the key P:resp:dead holds dead letters',
      '/* keys: <p>:dlv:hist:<dest>:<id> */',
      'const ref = `${prefix}-${out}`;',
      "k.deliveryHistory(destination, id);",
      "store.keys.messageSeq(id);",
      "table.key(name);",
      'id: nameUuid(`slot:${schedule.healthcareService}:${s}`),',
    ];
    for (const line of fine) {
      assert.deepEqual(keySpellings(line), [], line);
    }
  });
});
