/*
 * HL7 → status rules for PAS-originated messages (mappings/pas-events/rules.yaml): data that integration engineers
 * edit, validated at start-up with every problem listed.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const fieldPath = z.string().regex(/^[A-Z][A-Z0-9]{2}-\d+(\.\d+)?$/, 'an HL7 field path such as PV1-19.1');

export const pasEventRuleSchema = z
  .object({
    name: z.string().min(1),
    messageTypes: z.array(z.string().regex(/^[A-Z0-9]{3}\^[A-Z0-9]{3}$/, 'MSH-9.1^MSH-9.2, e.g. ADT^A04')).min(1),
    find: z
      .object({
        record: z.enum(['ServiceRequest', 'Appointment']),
        by: z.enum(['reference', 'id']),
        field: fieldPath,
      })
      .strict(),
    set: z
      .object({
        encounter: z.enum(['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled', 'entered-in-error']).optional(),
        record: z.string().min(1).optional(),
      })
      .strict()
      .refine((s) => s.encounter !== undefined || s.record !== undefined, 'set needs encounter or record'),
    event: z.enum(['encounter-status-changed', 'appointment-cancelled', 'appointment-no-show']),
    /**
     * The rejected-reasons-bars code a rejection carries (APP4 interim response "to reject", APP6 REFRESP02: Encounter
     * `cancelled` + reasonCode): read from `field` when the PAS puts one of the codes there (a local agreement; HL7
     * v2.4 REF^I14 has no rejection-reason field), else `default`.
     */
    reasonCode: z
      .object({ field: fieldPath.optional(), default: z.enum(['RRNA', 'FC', 'OTH']) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((r) => r.reasonCode === undefined || r.set.encounter === 'cancelled', {
    message: 'reasonCode belongs to rules that set the encounter to cancelled (a rejection)',
    path: ['reasonCode'],
  });

export type PasEventRule = z.infer<typeof pasEventRuleSchema>;

export class PasEventRulesError extends Error {
  readonly problems: readonly string[];
  constructor(file: string, problems: string[]) {
    super(`Invalid PAS event rules in ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export function loadPasEventRules(file: string): PasEventRule[] {
  const parsed = z.object({ rules: z.array(pasEventRuleSchema) }).safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new PasEventRulesError(file, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data.rules;
}

/** The rule for a message type (`MSH-9.1^MSH-9.2`), the first that matches. */
export function ruleFor(rules: readonly PasEventRule[], messageType: string): PasEventRule | undefined {
  const [code, trigger] = messageType.split('^');
  return rules.find((r) => r.messageTypes.includes(`${code}^${trigger}`));
}
