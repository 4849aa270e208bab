/*
 * Message trace: from a request id, Bundle id, receiver id, MSH-10 or NHS number, the whole story of a record —
 * received (headers minus secrets are not stored; ids and codes are), stored versions, mapping outputs and failures,
 * each delivery attempt and ACK, PAS events, responses sent. Every look-up is itself audited (who, what key, when),
 * because a trace by NHS number is access to a patient's referrals.
 */
import type { Redis } from 'ioredis';
import { getDeliveryHistory, type DeliveryHistory } from '../flows/delivery/history.js';
import { isUuid } from '../protocol/bars/headers.js';
import type { MessageStore, RecordState } from '../state/message-store.js';
import type { StoredMessage } from '../protocol/bars/types.js';
import { recordEvents, type StatusEvent } from '../flows/pas-events/processor.js';
import type { MappingFailure } from '../flows/inbound/inbound-processor.js';
import type { SequencedOutput } from '../flows/inbound/sequencer.js';
import { appendAudit } from '../state/audit-log.js';

export interface TracedMessage {
  readonly messageId: string;
  readonly workflow: string;
  readonly receivedAt: string;
  readonly requestId: string;
  readonly correlationId: string;
  readonly bundleId: string;
  readonly useCase: string | undefined;
  readonly outputs: ReadonlyArray<SequencedOutput & { delivery?: DeliveryHistory }>;
  readonly mappingFailures: readonly MappingFailure[];
}

export interface TracedRecord {
  readonly type: RecordState['type'];
  readonly id: string;
  readonly status: string;
  readonly encounterStatus: string | undefined;
  readonly reference: string | undefined;
  readonly correlationId: string;
  readonly sourceEndpoint: string | undefined;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly messages: readonly TracedMessage[];
  readonly pasEvents: ReadonlyArray<StatusEvent & { eventId: string }>;
}

export interface Trace {
  readonly key: string;
  readonly matchedBy: 'request-id' | 'bundle-id' | 'receiver-id' | 'control-id' | 'nhs-number' | 'reference' | 'none';
  readonly records: readonly TracedRecord[];
}

async function messageIdFor(store: MessageStore, key: string): Promise<{ messageId?: string; by?: Trace['matchedBy'] }> {
  const lower = key.toLowerCase();
  const viaRequest = await store.redis.hget(store.keys.request(lower), 'messageId');
  if (viaRequest) {
    return { messageId: viaRequest, by: 'request-id' };
  }
  const viaBundle = await store.redis.get(store.keys.bundle(key));
  if (viaBundle) {
    // "<messageId> <record> <sender>" (process-message.ts); older entries hold the message id alone.
    return { messageId: viaBundle.split(' ')[0], by: 'bundle-id' };
  }
  const viaControl = await store.redis.get(store.keys.controlId(key));
  if (viaControl) {
    return { messageId: viaControl.split('.')[0], by: 'control-id' };
  }
  return {};
}

export async function traceMessage(store: MessageStore, messageId: string): Promise<TracedMessage | undefined> {
  const stored = await store.getMessage(messageId);
  if (!stored) {
    return undefined;
  }
  const deliveryIds = (await store.redis.smembers(store.keys.messageOutputs(messageId))).sort();
  const outputs = await Promise.all(
    deliveryIds.map(async (id) => {
      const meta = await store.redis.get(store.keys.outputMeta(id));
      const output = meta ? (JSON.parse(meta) as SequencedOutput) : undefined;
      if (!output) {
        return undefined;
      }
      const delivery = await getDeliveryHistory({ redis: store.redis, prefix: store.prefix }, output.destination, id);
      return { ...output, ...(delivery ? { delivery } : {}) };
    }),
  );
  const failures = await store.redis.get(store.keys.messageMappingFailures(messageId));
  return {
    messageId,
    workflow: stored.workflow,
    receivedAt: stored.receivedAt,
    requestId: stored.requestId,
    correlationId: stored.correlationId,
    bundleId: stored.bundleId,
    useCase: stored.useCase,
    outputs: outputs.filter((o): o is NonNullable<typeof o> => o !== undefined),
    mappingFailures: failures ? (JSON.parse(failures) as MappingFailure[]) : [],
  };
}

async function traceRecord(store: MessageStore, record: RecordState): Promise<TracedRecord> {
  const versions = await store.getRecordVersions(record.type, record.id);
  const messages = (await Promise.all(versions.map((id) => traceMessage(store, id)))).filter((m): m is TracedMessage => m !== undefined);
  return {
    type: record.type,
    id: record.id,
    status: record.status,
    encounterStatus: record.encounterStatus,
    reference: record.reference,
    correlationId: record.correlationId,
    sourceEndpoint: record.sourceEndpoint,
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    messages,
    pasEvents: await recordEvents(store, record.type, record.id),
  };
}

/**
 * Finds and assembles the trace, and records who asked.
 * @param actor - who is asking (CLI user, admin API token holder); kept in the audit list.
 */
export async function trace(store: MessageStore, key: string, actor: string): Promise<Trace> {
  await audit(store.redis, store.prefix, actor, key);
  const records: RecordState[] = [];
  let matchedBy: Trace['matchedBy'] = 'none';
  const { messageId, by } = await messageIdFor(store, key);
  if (messageId) {
    const stored = await store.getMessage(messageId);
    const record = stored ? await store.getRecord(stored.recordType, stored.recordId) : undefined;
    if (record) {
      records.push(record);
      matchedBy = by!;
    }
  } else if (isUuid(key)) {
    for (const type of ['ServiceRequest', 'Appointment'] as const) {
      const record = await store.getRecord(type, key.toLowerCase());
      if (record) {
        records.push(record);
        matchedBy = 'receiver-id';
      }
    }
  } else if (/^\d{10}$/.test(key)) {
    for (const type of ['ServiceRequest', 'Appointment'] as const) {
      records.push(...(await store.search(type, [['nhs', key]])));
    }
    matchedBy = records.length > 0 ? 'nhs-number' : 'none';
  } else {
    for (const type of ['ServiceRequest', 'Appointment'] as const) {
      records.push(...(await store.search(type, [['reference', key.toLowerCase()]])));
    }
    matchedBy = records.length > 0 ? 'reference' : 'none';
  }
  return { key, matchedBy, records: await Promise.all(records.map((r) => traceRecord(store, r))) };
}

export async function audit(redis: Redis, prefix: string, actor: string, key: string): Promise<void> {
  // The key is kept: the audit answers "who looked up this patient", which needs the key itself.
  await appendAudit(redis, prefix, 'traceAudit', { actor, key, at: new Date().toISOString() });
}

/** Human-readable rendering for the CLI. */
export function formatTrace(t: Trace): string {
  if (t.records.length === 0) {
    return `nothing found for ${t.key}\n`;
  }
  const lines: string[] = [`matched by ${t.matchedBy}`];
  for (const r of t.records) {
    lines.push('', `${r.type}/${r.id}  ${r.status}  encounter ${r.encounterStatus ?? '-'}  reference ${r.reference ?? '-'}  version ${r.version}`);
    lines.push(`  correlation ${r.correlationId}  sender ${r.sourceEndpoint ?? '-'}  created ${r.createdAt}  updated ${r.updatedAt}`);
    for (const m of r.messages) {
      lines.push(`  ${m.receivedAt}  received ${m.workflow} (${m.useCase ?? '-'})  message ${m.messageId}  request ${m.requestId}  bundle ${m.bundleId}`);
      for (const f of m.mappingFailures) {
        lines.push(`    mapping ${f.mappingId} FAILED (dead letter ${m.messageId}.${f.mappingId}; later messages of the record are held behind it): ${f.problems.join('; ')}`);
      }
      for (const o of m.outputs) {
        const d = o.delivery?.summary;
        const state = d ? `${d.heldBehind ? `held behind dead letter ${o.destination}/${d.heldBehind}` : d.status}, ${d.attempts} attempt(s)${d.lastOutcome ? `, last ${d.lastOutcome}` : ''}` : 'not yet queued';
        lines.push(`    ${o.mappingId} → ${o.destination}  MSH-10 ${o.controlId}  ${state}`);
        for (const e of o.delivery?.events ?? []) {
          lines.push(`      ${JSON.stringify(e)}`);
        }
      }
    }
    for (const e of r.pasEvents) {
      lines.push(`  ${e.at}  PAS ${e.rule}: ${e.from ?? '-'} → ${e.to}  (PAS MSH-10 ${e.pasControlId})`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The stored messages a key names, oldest first: a message id, request id, Bundle id or MSH-10 → that message; our
 * reference (BB-…) or a record id → every message (version) of the record. For `map --message`; not audited, as it
 * returns the messages to the caller rather than showing them (the `map` command prints HL7, a local tool).
 */
export async function messagesFor(store: MessageStore, key: string): Promise<StoredMessage[]> {
  const direct = (await store.getMessage(key)) ?? (await store.getMessage(key.toLowerCase()));
  if (direct) {return [direct];}
  const { messageId } = await messageIdFor(store, key);
  if (messageId) {
    const m = await store.getMessage(messageId);
    return m ? [m] : [];
  }
  const records: RecordState[] = [];
  for (const type of ['ServiceRequest', 'Appointment'] as const) {
    if (isUuid(key)) {
      const r = await store.getRecord(type, key.toLowerCase());
      if (r) {records.push(r);}
    } else {
      records.push(...(await store.search(type, [['reference', key.toLowerCase()]])));
    }
  }
  const out: StoredMessage[] = [];
  for (const r of records) {
    for (const id of await store.getRecordVersions(r.type, r.id)) {
      const m = await store.getMessage(id);
      if (m) {out.push(m);}
    }
  }
  return out;
}
