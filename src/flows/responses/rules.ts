/*
 * WHICH asynchronous responses to send WHEN: a data file (mappings/responses/rules.yaml), not code per use case.
 * A rule matches an event (type, optional Encounter status change, optional rejection reason) and the use case of the
 * original request; the kinds of every matching rule are returned, in rule order, without duplicates.
 *
 * Reading of the standard for delivery failures ("a delivery that fails for good, where the workflow allows the
 * sender to be told"): BaRS defines no "undeliverable" message and the 200 acknowledgement means we accepted the
 * message. The only way to tell a sender afterwards is a response its workflow defines, and only APP4 (interim
 * validation response: Encounter `cancelled` + rejected-reasons-bars reasonCode, "to reject") and APP6 (referral
 * response on every Encounter status change; rejection = status + reasonCode, example REFRESP02) define a rejection.
 * So `delivery-failed` → APP4 interim / APP6 status response with Encounter `cancelled` and reason `OTH`; for APP1,
 * APP2, APP3 and APP5 nothing is sent (their only async response, APP1/2 DNA feedback, is not a rejection) and the
 * failure remains an operational alert.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { StoredMessage } from '../../protocol/bars/types.js';
import { parseYamlSource } from '../../mapping/yaml-source.js';
import { ENCOUNTER_STATUSES, RESPONSE_KINDS, type ResponseEvent, type ResponseKind } from '../../protocol/bars/response-events.js';

const ruleSchema = z
  .object({
    id: z.string().min(1),
    event: z.enum(['encounter-status-changed', 'appointment-no-show', 'validation-picked-up', 'validation-rejected', 'validation-completed', 'delivery-failed']),
    from: z.array(z.enum(ENCOUNTER_STATUSES)).min(1).optional(),
    to: z.array(z.enum(ENCOUNTER_STATUSES)).min(1).optional(),
    /** Only when the status actually changed (from ≠ to). */
    changed: z.boolean().optional(),
    reasonCodes: z.array(z.enum(['RRNA', 'FC', 'OTH'])).min(1).optional(),
    /** usecases-categories-bars codes or Application prefixes (`a4` covers a4t1…). */
    useCases: z.array(z.string().regex(/^[a-z0-9]+$/)).min(1),
    respond: z.array(z.enum(RESPONSE_KINDS)).min(1),
  })
  .strict();

const rulesFileSchema = z.object({ rules: z.array(ruleSchema) }).strict();

export type ResponseRule = z.infer<typeof ruleSchema>;

/** Default rules file, relative to this module (works from src/ under tsx and from dist/src/ after a build). */
export const DEFAULT_RULES_FILE = fileURLToPath(new URL('../../../mappings/responses/rules.yaml', import.meta.url).href.replace('/dist/mappings/', '/mappings/'));

/** Parses and validates a rules document; throws listing every problem. */
export function parseRules(yamlText: string, source = 'rules'): readonly ResponseRule[] {
  const parsed = rulesFileSchema.safeParse(parseYaml(yamlText));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`Invalid response rules in ${source}:\n  - ${problems.join('\n  - ')}`);
  }
  const ids = new Set<string>();
  for (const rule of parsed.data.rules) {
    if (ids.has(rule.id)) {
      throw new Error(`Invalid response rules in ${source}: duplicate rule id ${rule.id}`);
    }
    ids.add(rule.id);
  }
  return Object.freeze(parsed.data.rules);
}

/** `file:line` of each rule id in a rules file (for load-time findings), from the same YAML. */
export function ruleLines(file: string): Map<string, string> {
  const out = new Map<string, string>();
  const src = parseYamlSource(path.relative(process.cwd(), file) || file, readFileSync(file, 'utf8'), []);
  const rules = (src?.value as { rules?: Array<{ id?: unknown }> } | undefined)?.rules ?? [];
  rules.forEach((r, i) => {
    if (typeof r?.id === 'string') {out.set(r.id, src!.at(['rules', i]));}
  });
  return out;
}

let cached: readonly ResponseRule[] | undefined;

/** Loads a rules file (default: mappings/responses/rules.yaml, read once). */
export function loadRules(file?: string): readonly ResponseRule[] {
  if (file === undefined) {
    cached ??= parseRules(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE);
    return cached;
  }
  return parseRules(readFileSync(file, 'utf8'), file);
}

function coversUseCase(patterns: readonly string[], useCase: string | undefined): boolean {
  if (!useCase) {
    return false;
  }
  const uc = useCase.toLowerCase();
  return patterns.some((p) => uc === p || (/^a\d+$/.test(p) && uc.startsWith(`${p}t`)));
}

function matches(rule: ResponseRule, event: ResponseEvent, useCase: string | undefined): boolean {
  if (rule.event !== event.type || !coversUseCase(rule.useCases, useCase)) {
    return false;
  }
  if (event.type === 'encounter-status-changed') {
    if (rule.from && !rule.from.includes(event.from)) {return false;}
    if (rule.to && !rule.to.includes(event.to)) {return false;}
    if (rule.changed && event.from === event.to) {return false;}
  } else if (rule.from || rule.to) {
    return false;
  }
  if (rule.reasonCodes) {
    const code = event.type === 'validation-rejected' || event.type === 'encounter-status-changed' ? event.reasonCode : undefined;
    if (!code || !rule.reasonCodes.includes(code)) {return false;}
  }
  return true;
}

/**
 * The responses an event calls for, given the stored original message (its use case decides the Application).
 * @param rules - defaults to mappings/responses/rules.yaml.
 */
export function responsesFor(event: ResponseEvent, stored: Pick<StoredMessage, 'useCase'>, rules: readonly ResponseRule[] = loadRules()): ResponseKind[] {
  const kinds: ResponseKind[] = [];
  for (const rule of rules) {
    if (matches(rule, event, stored.useCase)) {
      for (const kind of rule.respond) {
        if (!kinds.includes(kind)) {kinds.push(kind);}
      }
    }
  }
  return kinds;
}
