/*
 * THE key table: every Redis key family this service writes, declared once — its pattern, Redis type, the flow that
 * owns it and how it goes away (retention rule). Every key is built here (`keyspace(prefix).messageSeq(id)`); nothing
 * outside src/state/ spells a key (test/unit/state/keys.test.ts scans the sources), so a family that is not in this
 * table does not exist, and ops/retention.ts deletes "with its message / output / record / response / PAS event"
 * families by iterating this table: a new family with such a rule is pruned without touching retention.
 *
 * Retention is a data-protection function (UK GDPR Art. 5(1)(e) storage limitation): a family retention does not
 * know about is a record kept for ever. Hence every family states how it goes:
 *   with        deleted by retention together with its message / output / record / response / PAS event (the scope);
 *               for a set or sorted set shared by many, the scope's member is removed instead of the key
 *   ttl         expires by itself (the setting or constant that sets the TTL)
 *   bounded     stays, but bounded (a list trimmed to N, entries that leave when their work is done)
 *   audit       an audit list: bounded in length and pruned by age (state/audit-log.ts prunes exactly these)
 *   kept        kept by design, with the reason
 *
 * Adding a family is one entry below (pattern, type, owner, rule); its builder `keyspace(p).<name>(…)` follows from
 * the pattern (one string argument per `<placeholder>`, in order).
 *
 * Key names are data: keys already in Redis must stay readable, so a pattern never changes once released. The prefix
 * is a Redis Cluster hash tag (`{bars}`), so every key of a deployment is in one slot and Lua scripts may take them
 * as KEYS or build them from the prefix (state/lane-store.ts).
 *
 * BullMQ keeps its own keys under `<prefix>:<queue>:…` (its src/classes/queue-keys.ts); our queues are listed in
 * QUEUES with the job options that bound them.
 */
import { createHash } from 'node:crypto';

/** The flows of the service (src/flows/*), plus ops (src/ops). */
export type Flow = 'intake' | 'inbound' | 'delivery' | 'pas-events' | 'responses' | 'diary' | 'ops';
export type RedisType = 'string' | 'hash' | 'list' | 'set' | 'zset';

/** What retention knows of one message version (from its StoredMessage). */
export interface MessageScope {
  readonly id: string;
  readonly requestId: string;
  readonly bundleId: string;
}
/** One output of a message (`<messageId>.<mappingId>`); destination and MSH-10 come from its meta, when written. */
export interface OutputScope {
  readonly deliveryId: string;
  readonly destination?: string;
  readonly controlId?: string;
}
/** A record (ServiceRequest or Appointment) with the index entries and slot its versions wrote. */
export interface RecordScope {
  readonly type: string;
  readonly id: string;
  readonly slotId?: string;
  /** [kind, value] of every patient/identifier/reference index entry any version wrote. */
  readonly indexTerms: ReadonlyArray<readonly [string, string]>;
}
/** A response queued for a record. */
export interface ResponseScope {
  readonly id: string;
}
/** A PAS event applied to a record; `seen` is its de-duplication digest when its header could be read. */
export interface PasEventScope {
  readonly id: string;
  readonly seen?: string;
}
export interface Scopes {
  readonly message: MessageScope;
  readonly output: OutputScope;
  readonly record: RecordScope;
  readonly response: ResponseScope;
  readonly 'pas-event': PasEventScope;
}
export type ScopeName = keyof Scopes;

/** The string arguments of a pattern: one per `<placeholder>`. */
export type PatternArgs<P extends string> = P extends `${string}<${string}>${infer Rest}` ? [string, ...PatternArgs<Rest>] : [];

/** Retention switches (config `retention.*`) that can keep a "with" family. */
export type KeepSwitch = 'keepBundleIds';

type WithRule<P extends string> = {
  [S in ScopeName]: {
    readonly how: 'with';
    readonly scope: S;
    /** The keys of this family that belong to the scope (argument lists for the builder; none is fine). */
    readonly keys: (scope: Scopes[S]) => ReadonlyArray<PatternArgs<P>>;
    /** For a set or sorted set shared by many scopes: the member to remove (the key itself stays). */
    readonly member?: (scope: Scopes[S]) => string;
    /** Kept when this retention switch is on. */
    readonly unless?: KeepSwitch;
    readonly note?: string;
  };
}[ScopeName];

export type RetentionRule<P extends string = string> =
  | WithRule<P>
  | { readonly how: 'ttl'; readonly note: string }
  | { readonly how: 'bounded'; readonly note: string }
  /** An audit list (state/audit-log.ts): at most AUDIT_MAX_ENTRIES, entries older than retention.auditDays pruned. */
  | { readonly how: 'audit' }
  | { readonly how: 'kept'; readonly note: string };

export interface FamilySpec<P extends string = string> {
  /** Key after `<prefix>:`; `<name>` marks an argument. */
  readonly pattern: P;
  readonly type: RedisType;
  readonly owner: Flow;
  readonly retention: RetentionRule<P>;
}

const family = <P extends string>(spec: FamilySpec<P>): FamilySpec<P> => spec;

/** Set/sorted-set member rules: the key has no arguments, one member goes with the scope. */
const one = (): [] => [];

export const FAMILIES = {
  // --- intake: the message store (process-message.ts writes all of these in one commit, state/commit.ts) ---
  /** X-Request-Id ledger: state committed|done|failed, messageId, committedAt; status and body of a refusal. */
  request: family({
    pattern: 'req:<requestId>',
    type: 'hash',
    owner: 'intake',
    retention: { how: 'with', scope: 'message', keys: (m) => [[m.requestId]], note: 'also expires after IDEMPOTENCY_TTL' },
  }),
  /** "<messageId> <Type>/<id> <sender>": the message, record and sender that first used this Bundle.id. */
  bundle: family({
    pattern: 'bundle:<bundleId>',
    type: 'string',
    owner: 'intake',
    retention: {
      how: 'with',
      scope: 'message',
      keys: (m) => [[m.bundleId]],
      unless: 'keepBundleIds',
      note: 'a Bundle.id must never be reused; the marker (no PHI) is kept unless retention.keepBundleIds is false',
    },
  }),
  /** StoredMessage JSON: the bundle as acknowledged, with receiver ids. */
  message: family({ pattern: 'msg:<messageId>', type: 'string', owner: 'intake', retention: { how: 'with', scope: 'message', keys: (m) => [[m.id]] } }),
  /** Receipt number of the message, fixed in its commit (delivery order, ARCHITECTURE invariant 3). */
  messageSeq: family({ pattern: 'msg:<messageId>:seq', type: 'string', owner: 'intake', retention: { how: 'with', scope: 'message', keys: (m) => [[m.id]] } }),
  /** Current state of a ServiceRequest or Appointment (field `state`, RecordState JSON) and its `version`. */
  record: family({ pattern: 'rec:<type>:<id>', type: 'hash', owner: 'intake', retention: { how: 'with', scope: 'record', keys: (r) => [[r.type, r.id]] } }),
  /** Message ids of every version of the record, oldest first (BaRS: all versions are kept). */
  recordVersions: family({ pattern: 'rec:<type>:<id>:versions', type: 'list', owner: 'intake', retention: { how: 'with', scope: 'record', keys: (r) => [[r.type, r.id]] } }),
  /** "Type/id" members per patient index entry: nhs, family, birthdate, postcode, identifier, reference. */
  index: family({
    pattern: 'idx:<kind>:<value>',
    type: 'set',
    owner: 'intake',
    retention: { how: 'with', scope: 'record', keys: (r) => r.indexTerms.map(([kind, value]): [string, string] => [kind, value]), member: (r) => `${r.type}/${r.id}` },
  }),
  /** Appointment ids holding a slot (capacity check in the commit). */
  slot: family({
    pattern: 'slot:<slotId>',
    type: 'set',
    owner: 'intake',
    retention: { how: 'with', scope: 'record', keys: (r) => (r.slotId ? [[r.slotId]] : []), member: (r) => r.id },
  }),
  /** Message ids stored but whose inbound job is not yet confirmed (score = ms); the sweeper finishes them. */
  pendingEnqueue: family({ pattern: 'pending-enqueue', type: 'zset', owner: 'intake', retention: { how: 'with', scope: 'message', keys: () => [one()], member: (m) => m.id } }),
  /** Every message id by receipt time: trace and retention's work list. */
  messages: family({ pattern: 'messages', type: 'zset', owner: 'intake', retention: { how: 'with', scope: 'message', keys: () => [one()], member: (m) => m.id } }),
  /** The receipt-number counter (INCR in each commit). */
  receivedSeq: family({ pattern: 'seq:received', type: 'string', owner: 'intake', retention: { how: 'kept', note: 'one counter: the last receipt number given out' } }),

  // --- inbound: mapping outputs and the receipt-order sequencer ---
  /** Delivery ids (`<messageId>.<mappingId>`) rendered for the message. */
  messageOutputs: family({ pattern: 'msg:<messageId>:outputs', type: 'set', owner: 'inbound', retention: { how: 'with', scope: 'message', keys: (m) => [[m.id]] } }),
  /** JSON list of the mapping failures of the message (trace); deleted by a successful reprocess. */
  messageMappingFailures: family({ pattern: 'msg:<messageId>:mapping-failures', type: 'string', owner: 'inbound', retention: { how: 'with', scope: 'message', keys: (m) => [[m.id]] } }),
  /** Message ids with a mapping failure, by time (reprocess --failed, alerts). */
  mappingFailures: family({ pattern: 'mapping-failures', type: 'zset', owner: 'inbound', retention: { how: 'with', scope: 'message', keys: () => [one()], member: (m) => m.id } }),
  /** The rendered text of an output (HL7 v2 or flat file). */
  output: family({ pattern: 'out:<deliveryId>', type: 'string', owner: 'inbound', retention: { how: 'with', scope: 'output', keys: (o) => [[o.deliveryId]] } }),
  /** SequencedOutput JSON of an output: destination, MSH-10, content type, text key. */
  outputMeta: family({ pattern: 'out:<deliveryId>:meta', type: 'string', owner: 'inbound', retention: { how: 'with', scope: 'output', keys: (o) => [[o.deliveryId]] } }),
  /** MSH-10 → delivery id (trace by the control id the PAS team quotes). */
  controlId: family({ pattern: 'ctl:<controlId>', type: 'string', owner: 'inbound', retention: { how: 'with', scope: 'output', keys: (o) => (o.controlId ? [[o.controlId]] : []) } }),
  /** The last receipt number handed to the lanes. */
  sequencerCursor: family({ pattern: 'seq:flushed', type: 'string', owner: 'inbound', retention: { how: 'kept', note: 'one counter: the last receipt number handed to the lanes' } }),
  /** Receipt number → outputs JSON, for numbers mapped but not yet handed on. */
  sequencerReady: family({ pattern: 'seq:ready', type: 'hash', owner: 'inbound', retention: { how: 'bounded', note: 'a field per mapped number ahead of the cursor; deleted when flushed' } }),
  /** Token of the flusher handing outputs to the lanes. */
  sequencerLock: family({ pattern: 'seq:lock', type: 'string', owner: 'inbound', retention: { how: 'ttl', note: 'flush lock, 15 s (sequencer.ts LOCK_MS)' } }),

  // --- delivery: lanes, per-output history, dead letters ---
  /** Delivery ids waiting on a destination, oldest first; index 0 is the head being delivered. */
  lane: family({ pattern: 'lane:<destination>', type: 'list', owner: 'delivery', retention: { how: 'bounded', note: 'delivery ids waiting; each leaves when delivered, held or dead-lettered' } }),
  /** Token of the worker process that owns the lane. */
  laneLease: family({ pattern: 'lane:<destination>:lease', type: 'string', owner: 'delivery', retention: { how: 'ttl', note: 'owner lease, renewed while the owner lives (DELIVERY_LEASE_MS)' } }),
  /** How many entries from the head the owner has read (a replay is inserted after them). */
  laneReadTo: family({ pattern: 'lane:<destination>:readTo', type: 'string', owner: 'delivery', retention: { how: 'kept', note: 'one number per configured destination' } }),
  /** Summary of an output on a destination: status, attempts, MSH-10, times, last outcome, record, order. */
  deliveryHistory: family({
    pattern: 'dlv:hist:<destination>:<deliveryId>',
    type: 'hash',
    owner: 'delivery',
    retention: { how: 'with', scope: 'output', keys: (o) => (o.destination !== undefined ? [[o.destination, o.deliveryId]] : []), note: 'also expires after delivery (history TTL)' },
  }),
  /** One JSON entry per delivery event of an output, oldest first. */
  deliveryEvents: family({
    pattern: 'dlv:events:<destination>:<deliveryId>',
    type: 'list',
    owner: 'delivery',
    retention: { how: 'with', scope: 'output', keys: (o) => (o.destination !== undefined ? [[o.destination, o.deliveryId]] : []), note: 'also expires after delivery (history TTL)' },
  }),
  /** The text as queued for the destination (kept while pending or dead-lettered). */
  deliveryText: family({
    pattern: 'dlv:text:<destination>:<deliveryId>',
    type: 'string',
    owner: 'delivery',
    retention: { how: 'with', scope: 'output', keys: (o) => (o.destination !== undefined ? [[o.destination, o.deliveryId]] : []), note: 'also expires after delivery (text TTL)' },
  }),
  /** Destinations an output was queued for (trace). */
  deliveryDestinations: family({ pattern: 'dlv:dests:<deliveryId>', type: 'set', owner: 'delivery', retention: { how: 'with', scope: 'output', keys: (o) => [[o.deliveryId]] } }),
  /** A dead letter: reason, detail, MSH-10, rendered key, attempts, time. */
  deadLetter: family({
    pattern: 'dlv:deadrec:<destination>:<deliveryId>',
    type: 'hash',
    owner: 'delivery',
    // Not `with` its output: a dead letter keeps its record from retention (ops/retention.ts), so there is never one to
    // delete when the output goes; writing the delete anyway made each pruning script longer for nothing.
    retention: { how: 'bounded', note: 'exists only while dead-lettered, which keeps the record from retention; replay and drop delete it' },
  }),
  /** Dead letters by time, member "<destination>/<deliveryId>". */
  deadLetters: family({
    pattern: 'dlv:dead',
    type: 'zset',
    owner: 'delivery',
    retention: { how: 'bounded', note: 'one member per dead letter, which keeps its record from retention; a member leaves on replay or drop' },
  }),
  /** Actor replaying or dropping a dead letter (one at a time). */
  deadLetterGuard: family({ pattern: 'dlv:replaying:<destination>:<deliveryId>', type: 'string', owner: 'delivery', retention: { how: 'ttl', note: '30 s guard while ops replay or drop a dead letter' } }),
  /** Dead letters of one record on one destination, by receipt order. */
  deliveryBlockers: family({ pattern: 'dlv:blockers:<destination>:<record>', type: 'zset', owner: 'delivery', retention: { how: 'bounded', note: "a record's dead letters; each leaves on replay or drop (which a record must have before it is pruned)" } }),
  /** Later messages of a record held behind its first dead letter, by receipt order. */
  deliveryHeld: family({ pattern: 'dlv:held:<destination>:<record>', type: 'zset', owner: 'delivery', retention: { how: 'bounded', note: 'messages held behind a dead letter; released on its replay or drop' } }),
  /** Records with at least one dead letter on the destination. */
  deliveryBlocked: family({ pattern: 'dlv:blocked:<destination>', type: 'set', owner: 'delivery', retention: { how: 'bounded', note: 'records with a dead letter; removed when the last is replayed or dropped' } }),
  /** Who replayed, dropped or reprocessed which dead letter (JSON entries, newest last). */
  deliveryAudit: family({ pattern: 'dlv:audit', type: 'list', owner: 'delivery', retention: { how: 'audit' } }),
  /** Link state of a destination as its lane's owner last saw it (state/link-state.ts): state, since, last ACK code and screened MSA-3 text, last error. */
  link: family({ pattern: 'link:<destination>', type: 'hash', owner: 'delivery', retention: { how: 'ttl', note: '30 days after its last write (link-state.ts LINK_TTL_SECONDS); one per destination' } }),
  /** Messages delivered to a destination in one minute (minutes since the epoch): the console's last 5 min / 1 h. */
  linkDelivered: family({
    pattern: 'link:<destination>:dlv:<minute>',
    type: 'string',
    owner: 'delivery',
    retention: { how: 'ttl', note: '62 minutes after its first write (link-state.ts BUCKET_TTL_SECONDS): at most 62 per destination' },
  }),

  // --- pas-events ---
  /** Raw HL7 text of a PAS event, as received. */
  pasEvent: family({
    pattern: 'pasev:msg:<eventId>',
    type: 'string',
    owner: 'pas-events',
    retention: { how: 'with', scope: 'pas-event', keys: (e) => [[e.id]], note: 'expires after PAS_EVENTS_RETENTION_DAYS unless applied; an applied one goes with its record' },
  }),
  /** Event id of a PAS message already stored, by sender and MSH-10 (de-duplication). */
  pasEventSeen: family({
    pattern: 'pasev:seen:<digest>',
    type: 'string',
    owner: 'pas-events',
    retention: { how: 'with', scope: 'pas-event', keys: (e) => (e.seen ? [[e.seen]] : []), note: 'expires after PAS_EVENTS_RETENTION_DAYS; an applied one goes with its record' },
  }),
  /** PAS events no rule handles, by time kept (ops: `bars-bridge pas-events`). */
  pasEventsNoRule: family({ pattern: 'pasev:no-rule', type: 'zset', owner: 'pas-events', retention: { how: 'bounded', note: 'trimmed to PAS_EVENTS_RETENTION_DAYS on every add (flows/pas-events/kept.ts)' } }),
  /** PAS events naming no record of ours, by time kept. */
  pasEventsUnmatched: family({ pattern: 'pasev:unmatched', type: 'zset', owner: 'pas-events', retention: { how: 'bounded', note: 'trimmed to PAS_EVENTS_RETENTION_DAYS on every add (flows/pas-events/kept.ts)' } }),
  /** Status changes PAS events made to the record (JSON with the event id), oldest first. */
  recordEvents: family({ pattern: 'rec:<type>:<id>:events', type: 'list', owner: 'pas-events', retention: { how: 'with', scope: 'record', keys: (r) => [[r.type, r.id]] } }),

  // --- responses ---
  /** A queued BaRS response: message, kind, event, requestId, correlationId, state, body fixed at the first attempt, attempts, dead letter. */
  response: family({ pattern: 'resp:<responseId>', type: 'hash', owner: 'responses', retention: { how: 'with', scope: 'response', keys: (r) => [[r.id]] } }),
  /** Responses of one conversation not yet finished, in order; the head is being sent. */
  responseLane: family({ pattern: 'resp:lane:<correlationId>', type: 'list', owner: 'responses', retention: { how: 'bounded', note: 'responses of a conversation not yet finished; each leaves when finished' } }),
  /** Correlation ids whose lane is not empty (the sweeper's work list). */
  responseLanes: family({ pattern: 'resp:lanes', type: 'set', owner: 'responses', retention: { how: 'bounded', note: 'correlation ids with a non-empty lane' } }),
  /** "<responseId>:<kind>" of every response queued for a record. */
  recordResponses: family({ pattern: 'resp:rec:<recordId>', type: 'list', owner: 'responses', retention: { how: 'with', scope: 'record', keys: (r) => [[r.id]] } }),
  /** Dead-lettered response ids by time. */
  responseDeadLetters: family({ pattern: 'resp:dead', type: 'zset', owner: 'responses', retention: { how: 'with', scope: 'response', keys: () => [one()], member: (r) => r.id } }),
  /** Who replayed or dropped which response dead letter. */
  responseAudit: family({ pattern: 'resp:audit', type: 'list', owner: 'responses', retention: { how: 'audit' } }),

  // --- diary: the PAS diary mirror (flows/diary, state/diary-mirror.ts); ids and times only, no PHI ---
  /** PAS appointment id → {"s":start ms,"e":end ms,"o":our Appointment id (echo),"t":trigger,"at":ms}, per HealthcareService. */
  diaryAppointments: family({
    pattern: 'diary:appts:<healthcareService>',
    type: 'hash',
    owner: 'diary',
    retention: { how: 'bounded', note: 'live state: released on cancellation; entries ended over a day ago pruned on write; at most 20,000 per service (state/diary-mirror.ts)' },
  }),
  /** `feed:<hcs>` / `query:<hcs>` → ms of the last PAS scheduling message / successful slot query (staleness). */
  diarySeen: family({ pattern: 'diary:seen', type: 'hash', owner: 'diary', retention: { how: 'kept', note: 'two fields per mapped HealthcareService' } }),
  /** Conflict ids by time recorded (bookings the PAS refused or double-booked). */
  diaryConflicts: family({ pattern: 'diary:conflicts', type: 'zset', owner: 'diary', retention: { how: 'bounded', note: 'trimmed to 30 days and 1,000 members on every add (state/diary-mirror.ts)' } }),
  /** One conflict (DiaryConflict JSON: ids, codes, times). */
  diaryConflict: family({ pattern: 'diary:conflict:<conflictId>', type: 'string', owner: 'diary', retention: { how: 'ttl', note: '30 days (state/diary-mirror.ts CONFLICT_RETENTION_MS)' } }),

  // --- ops ---
  /** Who traced which key (a trace by NHS number is access to a patient's referrals). */
  traceAudit: family({ pattern: 'audit:trace', type: 'list', owner: 'ops', retention: { how: 'audit' } }),
  /** Token of the worker running the retention pass. */
  retentionLock: family({ pattern: 'retention:lock', type: 'string', owner: 'ops', retention: { how: 'ttl', note: 'pruner lock, max(30 s, 10 ticks)' } }),
  /** Alert changes (firing / resolved) as JSON {at, alert, subject, firing, details: ids and counts}, newest first: the console's recent alerts. */
  alertHistory: family({ pattern: 'alerts:history', type: 'list', owner: 'ops', retention: { how: 'bounded', note: 'trimmed to 500 entries on every push (ops/alert-history.ts)' } }),
  /** The mapping set the workers run: hash, mappings, loaded/reloaded times, the last reload's outcome and problems (file:line, no message content). */
  mappingsActive: family({ pattern: 'mappings:active', type: 'hash', owner: 'inbound', retention: { how: 'kept', note: 'one hash per deployment, overwritten on every load and reload' } }),
  /** A console session, by SHA-256 of its cookie value (a stolen dump of Redis holds no usable cookie): actor, role, CSRF token, created. */
  consoleSession: family({ pattern: 'console:session:<sessionDigest>', type: 'hash', owner: 'ops', retention: { how: 'ttl', note: 'the idle timeout, renewed on use; the absolute timeout is checked on read (console/session.ts)' } }),
} as const;

export type FamilyName = keyof typeof FAMILIES;
type ArgsOf<N extends FamilyName> = PatternArgs<(typeof FAMILIES)[N]['pattern']>;

/** The key builders of one deployment prefix. */
export type Keyspace = { readonly [N in FamilyName]: (...args: ArgsOf<N>) => string } & { readonly prefix: string };

/** A pattern split at its placeholders: `msg:<id>:seq` → ['msg:', ':seq']. */
const literalParts = (pattern: string): string[] => pattern.split(/<[^>]*>/);

function builder(prefix: string, pattern: string): (...args: string[]) => string {
  const parts = literalParts(pattern);
  const head = `${prefix}:${parts[0]!}`;
  if (parts.length === 1) {
    return () => head;
  }
  return (...args: string[]) => {
    let key = head;
    for (let i = 1; i < parts.length; i++) {
      key += args[i - 1]! + parts[i]!;
    }
    return key;
  };
}

const cache = new Map<string, Keyspace>();

/** The keys of a deployment (`config.redis.prefix`, e.g. `{bars}`); cached per prefix. */
export function keyspace(prefix: string): Keyspace {
  let k = cache.get(prefix);
  if (!k) {
    const out: Record<string, unknown> = { prefix };
    for (const [name, spec] of Object.entries(FAMILIES)) {
      out[name] = builder(prefix, spec.pattern);
    }
    k = Object.freeze(out) as Keyspace;
    cache.set(prefix, k);
  }
  return k;
}

/**
 * Lua functions that build keys of the given families from the prefix, for scripts that name keys they derive from
 * their arguments (state/lane-store.ts): `key_lane(p, destination)` → `p .. ':lane:' .. destination`.
 */
export function luaKeyFunctions(names: readonly FamilyName[]): string {
  return names
    .map((name) => {
      const parts = literalParts(FAMILIES[name].pattern);
      if (!parts.every((part) => /^[\w:.-]*$/.test(part))) {
        throw new Error(`pattern of ${name} cannot be written as a Lua string`);
      }
      const params = parts.slice(1).map((_, i) => `a${i + 1}`);
      const body = parts.map((part, i) => (i === 0 ? `':${part}'` : ` .. a${i}${part ? ` .. '${part}'` : ''}`)).join('');
      return `local function key_${name}(${['p', ...params].join(', ')}) return p .. ${body} end`;
    })
    .join('\n');
}

/** One key (or set member) a "with" family holds for a scope. */
export interface ScopedKey {
  readonly family: FamilyName;
  readonly key: string;
  readonly type: RedisType;
  /** Set when only this member goes (a shared set or sorted set). */
  readonly member?: string;
}

/**
 * Every key (or member) of the families that go with `scope` (retention's deletion list).
 * @param keep - retention switches that are on (a family with `unless` such a switch is kept).
 */
export function keysOf<S extends ScopeName>(prefix: string, scope: S, value: Scopes[S], keep: ReadonlySet<KeepSwitch> = new Set()): ScopedKey[] {
  const out: ScopedKey[] = [];
  for (const [name, spec] of Object.entries(FAMILIES) as Array<[FamilyName, FamilySpec]>) {
    const rule = spec.retention;
    if (rule.how !== 'with' || rule.scope !== scope || (rule.unless !== undefined && keep.has(rule.unless))) {
      continue;
    }
    const withRule = rule as { keys: (s: Scopes[S]) => ReadonlyArray<readonly string[]>; member?: (s: Scopes[S]) => string };
    const build = keyspace(prefix)[name] as (...args: readonly string[]) => string;
    for (const args of withRule.keys(value)) {
      out.push({ family: name, key: build(...args), type: spec.type, ...(withRule.member ? { member: withRule.member(value) } : {}) });
    }
  }
  return out;
}

/**
 * The de-duplication digest of a PAS message (`pasEventSeen`): the allowed sender identity and MSH-10, hashed so the
 * key is unambiguous (no separator a field could contain), bounded in length, and one sender's key is never another's.
 */
export function pasEventDigest(sender: string, controlId: string): string {
  return createHash('sha256').update(JSON.stringify([sender, controlId])).digest('hex');
}

/** BullMQ queues (keys `<prefix>:<name>:…`, kept by BullMQ itself); the job options bound them. */
export const QUEUES = {
  inbound: { name: 'inbound', owner: 'inbound', retention: 'completed jobs removed after 7 days; failed jobs kept for ops (flows/inbound/inbound.ts)' },
  pasEvents: { name: 'pas-events', owner: 'pas-events', retention: 'completed jobs: the last 10,000 kept (flows/pas-events/listener.ts)' },
  responses: { name: 'responses', owner: 'responses', retention: 'completed jobs 7 days / 10,000; failed 30 days (flows/responses/queue.ts)' },
} as const satisfies Record<string, { name: string; owner: Flow; retention: string }>;
