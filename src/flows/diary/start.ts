/*
 * How the diary joins the running service (runtime.ts calls these): the settings file, the query destination, the
 * dead-letter hook that turns a PAS refusal of a booking into a visible conflict and a response event, and the
 * observations behind the staleness metric and alerts.
 */
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/schema.js';
import type { Destination, MllpDestination } from '../../config/destinations.js';
import type { DeadLetterHook } from '../delivery/lanes.js';
import type { Gauge } from 'prom-client';
import type { Logger } from '../../logging.js';
import type { MessageStore } from '../../state/message-store.js';
import { Diary } from './diary.js';
import { loadDiarySettings } from './settings.js';

/** The diary settings file inside the mappings directory (read at start-up, like the PAS event rules). */
export const diarySettingsFile = (config: Readonly<Config>): string => path.join(config.mappingsDir, 'pas-events', 'diary.yaml');

export function createDiary(o: {
  readonly config: Readonly<Config>;
  readonly destinations: readonly Destination[];
  readonly redis: Redis;
  readonly store: MessageStore;
  readonly log: Logger;
}): Diary {
  const settings = loadDiarySettings(diarySettingsFile(o.config));
  let queryDestination: MllpDestination | undefined;
  if (settings.query) {
    const d = o.destinations.find((x) => x.name === settings.query!.destination);
    if (!d || d.kind !== 'mllp') {
      throw new Error(`diary.yaml query.destination ${settings.query.destination} is not an MLLP destination of this instance`);
    }
    queryDestination = d;
  }
  const scheduled = new Set(o.config.slots.map((s) => s.healthcareService.toLowerCase()));
  const unscheduled = settings.clinics.filter((c) => !scheduled.has(c.healthcareService.toLowerCase())).map((c) => c.code);
  if (unscheduled.length > 0) {
    o.log.warn({ clinics: unscheduled }, 'diary.yaml maps clinics to HealthcareServices that have no slot schedule; their messages only feed the mirror');
  }
  return new Diary({ redis: o.redis, store: o.store, settings, schedules: o.config.slots, ...(queryDestination ? { queryDestination } : {}), log: o.log });
}

/**
 * Dead-letter hook: our booking-new SIU^S12 refused by the PAS for good (AR/CR, or AE until max attempts) is a booking
 * the sender was told we hold, which the PAS does not — a race the mirror could not see. It becomes a diary conflict
 * (alert `diary_conflicts`, `bars-bridge diary conflicts`, console: listDiaryConflicts) and a `delivery-failed`
 * response event for the BaRS response workflow (mappings/responses/rules.yaml decides what the sender is sent).
 */
export function bookingRefusalHook(
  diary: Diary,
  store: MessageStore,
  respond: () => ((messageId: string, eventId: string) => Promise<void>) | undefined,
): DeadLetterHook {
  return async (entry, reason) => {
    // A lane entry's id is the delivery id, `<stored message id>.<mapping>` (src/queues/inbound-processor.ts).
    const messageId = entry.messageId.split('.')[0]!;
    const message = await store.getMessage(messageId);
    if (message?.workflow !== 'booking-new') {
      return;
    }
    await diary.recordRefusal({ appointmentId: message.recordId, messageId, controlId: entry.controlId, reason });
    await respond()?.(messageId, `diary-refused-${messageId}`);
  };
}

/** What the diary alerts (src/ops/alerts.ts) see: feed age per mapped service (undefined = never fed), its limit, conflicts. */
export interface DiaryObservation {
  readonly feeds: ReadonlyArray<{ readonly healthcareService: string; readonly feedAgeSeconds: number | undefined }>;
  readonly staleAfterSeconds: number;
  readonly conflicts: number;
}

/**
 * The alert source of the diary (run with the other alerts, every ALERT_INTERVAL_SECONDS): feed age per mapped
 * service and the conflicts of the last `conflictWindowHours`; it also refreshes `bars_bridge_diary_age_seconds`.
 */
export function diaryObservations(
  diary: Diary,
  metrics: { readonly diaryAge: Gauge<'healthcare_service'> } | undefined,
  conflictWindowHours: number,
): () => Promise<DiaryObservation> {
  return async () => {
    const ages = await diary.ages();
    for (const a of ages) {
      if (a.ageSeconds !== undefined) {
        metrics?.diaryAge.set({ healthcare_service: a.healthcareService }, a.ageSeconds);
      }
    }
    return {
      feeds: ages.map((a) => ({ healthcareService: a.healthcareService, feedAgeSeconds: a.feedAgeSeconds })),
      staleAfterSeconds: Math.round(diary.settings.feedStaleMinutes * 60),
      conflicts: await diary.mirror.conflictCount(Date.now() - conflictWindowHours * 3_600_000),
    };
  };
}
