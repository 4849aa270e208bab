/*
 * The diary settings of one trust (mappings/pas-events/diary.yaml): which PAS clinic is which HealthcareService, how
 * its scheduling messages name the clinic, which status codes free a slot, whether the PAS answers slot queries, and
 * when a silent feed is an alert. Data that integration engineers edit, validated at start-up with every problem listed
 * (like mappings/pas-events/rules.yaml); read at start-up only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { DiaryReading } from './schedule-hl7.js';

const fieldPath = z.string().regex(/^[A-Z][A-Z0-9]{2}-\d+(\.\d+){0,2}$/, 'an HL7 field path such as AIL-3.1');

export const diarySettingsSchema = z
  .object({
    clinicFields: z.array(fieldPath).min(1).default(['AIL-3.1', 'AIG-3.1']),
    releaseStatuses: z.array(z.string().min(1)).default(['Cancelled', 'Deleted', 'Dc']),
    timeZone: z.string().default('Europe/London'),
    clinics: z
      .array(z.object({ code: z.string().min(1).max(64), healthcareService: z.string().min(1).max(64) }).strict())
      .default([])
      .refine((cs) => new Set(cs.map((c) => c.code)).size === cs.length, 'a clinic code may map to one HealthcareService only'),
    /** No scheduling message from the PAS for this long → alert `diary_feed_stale`. 0 = no alert. */
    feedStaleMinutes: z.number().min(0).default(60),
    /** Real-time SQM^S25 → SQR^S25 to a PAS destination that answers it; absent = the mirror only. */
    query: z
      .object({
        destination: z.string().min(1),
        /** Part of the GET /Slot time budget (BaRS: all answers within 5 s) spent waiting for the PAS. */
        timeoutMs: z.number().int().min(50).max(4000).default(1500),
        /** QRD-7 quantity limit. */
        limit: z.number().int().min(1).max(5000).default(500),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((s) => {
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: s.timeZone });
      return true;
    } catch {
      return false;
    }
  }, { message: 'timeZone must be an IANA zone', path: ['timeZone'] });

export type DiarySettings = z.infer<typeof diarySettingsSchema>;

export const diaryReading = (s: DiarySettings): DiaryReading => ({ clinicFields: s.clinicFields, releaseStatuses: s.releaseStatuses, timeZone: s.timeZone });

/** No file: no clinics mapped (the mirror stays empty, slots come from the templates alone). */
export const NO_DIARY: DiarySettings = diarySettingsSchema.parse({});

export class DiarySettingsError extends Error {
  readonly problems: readonly string[];
  constructor(file: string, problems: string[]) {
    super(`Invalid diary settings in ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export function loadDiarySettings(file: string): DiarySettings {
  if (!existsSync(file)) {
    return NO_DIARY;
  }
  const parsed = diarySettingsSchema.safeParse(parseYaml(readFileSync(file, 'utf8')) ?? {});
  if (!parsed.success) {
    throw new DiarySettingsError(file, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data;
}

/** The clinic codes of a HealthcareService (a service may be several PAS clinics). */
export function clinicsOf(settings: DiarySettings, healthcareService: string): string[] {
  return settings.clinics.filter((c) => c.healthcareService.toLowerCase() === healthcareService.toLowerCase()).map((c) => c.code);
}

export function serviceOfClinic(settings: DiarySettings, clinic: string): string | undefined {
  return settings.clinics.find((c) => c.code === clinic)?.healthcareService;
}
