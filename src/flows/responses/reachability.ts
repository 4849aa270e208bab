/*
 * Response rules that can never match, found at load. A response rule (mappings/responses/rules.yaml) only fires for
 * an event some part of the system emits; a rule whose conditions no emitter can satisfy is a response the sender
 * never gets (the `validation-encounter-cancelled` rule asked for a reason code that PAS rejections did not carry).
 *
 * Emitters are described by what they CAN emit (`EventSource`): the event type, the Encounter statuses it can go from
 * and to, and the reason codes it can carry (`undefined` in the list = may carry none). PAS events are derived from
 * mappings/pas-events/rules.yaml, the only emitter wired in this build (runtime.ts `originalRequestFor`); other
 * emitters add their own sources. A rule is:
 *  - an error when its conditions cannot hold for its event type at all (from/to on an event with no status change,
 *    reasonCodes on one without a reason, `changed` with from and to the same single status), or when sources of its
 *    event type exist but none can satisfy its conditions (status, reason);
 *  - unreached (a warning) when nothing in this build emits its event type: not wrong data, but no sender will get it.
 */
import type { PasEventRule } from '../pas-events/rules.js';
import type { ResponseRule } from './rules.js';
import { ENCOUNTER_STATUSES, type EncounterStatus, type RejectedReason, type ResponseEventType } from '../../protocol/bars/response-events.js';

/** What one emitter can emit. Lists are the possible values; `undefined` in `reasonCodes` = may come without one. */
export interface EventSource {
  /** For messages: which rule or code emits it. */
  readonly source: string;
  readonly type: ResponseEventType;
  readonly from?: readonly EncounterStatus[];
  readonly to?: readonly EncounterStatus[];
  readonly reasonCodes: ReadonlyArray<RejectedReason | undefined>;
}

/** Event types whose payload has a status change, and those that may carry a rejection reason (types.ts). */
const HAS_STATUS: readonly ResponseEventType[] = ['encounter-status-changed'];
const HAS_REASON: readonly ResponseEventType[] = ['encounter-status-changed', 'validation-rejected'];
const ALL_REASONS: readonly RejectedReason[] = ['RRNA', 'FC', 'OTH'];

/**
 * What the PAS event rules can emit as response events (runtime.ts `originalRequestFor` turns
 * `encounter-status-changed` and `appointment-no-show` into response events; `appointment-cancelled` none).
 * A change is only emitted when the status differs (processor.ts: `unchanged` otherwise); a record starts `planned`.
 */
export function pasEventSources(rules: readonly PasEventRule[], file: string): EventSource[] {
  const encounterTo = rules.flatMap((r) => (r.set.encounter ? [r.set.encounter] : []));
  const reachable = [...new Set<EncounterStatus>(['planned', ...encounterTo])];
  const out: EventSource[] = [];
  for (const r of rules) {
    const source = `${file}: rule '${r.name}'`;
    if (r.event === 'encounter-status-changed' && r.set.encounter) {
      const to = r.set.encounter;
      const reasons = r.reasonCode ? (r.reasonCode.field ? ALL_REASONS : [r.reasonCode.default]) : [undefined];
      out.push({ source, type: 'encounter-status-changed', from: reachable.filter((s) => s !== to), to: [to], reasonCodes: reasons });
    } else if (r.event === 'appointment-no-show') {
      out.push({ source, type: 'appointment-no-show', reasonCodes: [undefined] });
    }
  }
  return out;
}

const meets = <T>(wanted: readonly T[] | undefined, possible: readonly T[] | undefined): readonly T[] | undefined =>
  wanted === undefined ? possible : possible === undefined ? wanted : wanted.filter((w) => possible.includes(w));

/** Why `rule` cannot match what `s` emits, or undefined when it can. */
function mismatch(rule: ResponseRule, s: EventSource): string | undefined {
  const from = meets(rule.from, s.from) ?? ENCOUNTER_STATUSES;
  const to = meets(rule.to, s.to) ?? ENCOUNTER_STATUSES;
  if (rule.from && from.length === 0) {return `it emits from ${s.from!.join('/')}`;}
  if (rule.to && to.length === 0) {return `it emits to ${s.to!.join('/')}`;}
  if (rule.changed && !from.some((f) => to.some((t) => t !== f))) {return 'it never changes the status between those';}
  if (rule.reasonCodes && !s.reasonCodes.some((c) => c !== undefined && rule.reasonCodes!.includes(c))) {
    const has = s.reasonCodes.filter((c) => c !== undefined);
    return has.length === 0 ? 'it carries no reason code' : `it carries ${has.join('/')}`;
  }
  return undefined;
}

/** One finding about a rule: `error` stops loading, `unreached` is logged. */
export interface RuleFinding {
  readonly rule: string;
  readonly severity: 'error' | 'unreached';
  readonly message: string;
}

/** Every response rule that can never match, given the emitters. */
export function unmatchableRules(rules: readonly ResponseRule[], sources: readonly EventSource[]): RuleFinding[] {
  const out: RuleFinding[] = [];
  for (const rule of rules) {
    const error = (message: string): void => {
      out.push({ rule: rule.id, severity: 'error', message: `response rule '${rule.id}' can never match: ${message}` });
    };
    if ((rule.from || rule.to || rule.changed) && !HAS_STATUS.includes(rule.event)) {
      error(`a ${rule.event} event has no status change (from/to/changed)`);
      continue;
    }
    if (rule.reasonCodes && !HAS_REASON.includes(rule.event)) {
      error(`a ${rule.event} event carries no reason code`);
      continue;
    }
    if (rule.changed && rule.from?.length === 1 && rule.to?.length === 1 && rule.from[0] === rule.to[0]) {
      error(`changed: true with from and to both ${rule.from[0]}`);
      continue;
    }
    const same = sources.filter((s) => s.type === rule.event);
    if (same.length === 0) {
      out.push({ rule: rule.id, severity: 'unreached', message: `response rule '${rule.id}': nothing in this build emits ${rule.event} events` });
      continue;
    }
    const why = same.map((s) => ({ s, m: mismatch(rule, s) }));
    if (why.every((w) => w.m !== undefined)) {
      error(`no emitter of ${rule.event} satisfies it (${why.map((w) => `${w.s.source}: ${w.m}`).join('; ')})`);
    }
  }
  return out;
}

/**
 * The load-time check the worker runs: findings as `file:line: message` (the rule's line in `rulesFile`), errors
 * (refuse to start) and unreached (log).
 */
export function checkResponseRules(
  rules: readonly ResponseRule[],
  lines: ReadonlyMap<string, string>,
  sources: readonly EventSource[],
): { errors: string[]; unreached: string[] } {
  const findings = unmatchableRules(rules, sources);
  const at = (f: RuleFinding): string => `${lines.get(f.rule) ?? 'rules'}: ${f.message}`;
  return { errors: findings.filter((f) => f.severity === 'error').map(at), unreached: findings.filter((f) => f.severity === 'unreached').map(at) };
}
