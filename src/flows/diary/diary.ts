/*
 * The diary: what we offer is what the PAS can still book (issue 17).
 *
 * Sessions come from the configured templates (BARS_CONFIG `slots`: opening hours, slot length, capacity per
 * HealthcareService); the PAS decides which of their slots are taken. Occupancy of a slot = OUR bookings of it (the
 * `slot:<id>` set that the booking commit keeps, src/bars/process-message.ts) ∪ the PAS appointments and blocks that
 * overlap it — from a real-time SQM^S25 query where the PAS answers one, else from the mirror that the PAS's SIU feed
 * keeps (src/state/diary-mirror.ts). A PAS appointment is ours when its SCH-1 Placer Appointment ID is one of our Appointment ids
 * (we send our id there, mappings/_shared/siu.yaml): it is then counted under that id, once, whatever route told us.
 */
import type { Redis } from 'ioredis';
import type { SlotSchedule } from '../../config/schema.js';
import type { MllpDestination } from '../../config/destinations.js';
import type { Logger } from '../../logging.js';
import { generateSlots, type GeneratedSlot } from '../intake/slots.js';
import type { MessageStore } from '../../state/message-store.js';
import { isRefusal, readSiu, type DiaryAppointment, type DiaryEvent } from './schedule-hl7.js';
import { MirrorStore, overlaps, type DiaryConflict, type MirrorEntry } from '../../state/diary-mirror.js';
import { querySlots, SlotQueryError } from './query.js';
import { clinicsOf, diaryReading, serviceOfClinic, type DiarySettings } from './settings.js';

export interface DiaryDeps {
  readonly redis: Redis;
  readonly store: MessageStore;
  readonly settings: DiarySettings;
  readonly schedules: readonly SlotSchedule[];
  /** The PAS destination of `settings.query` (an MLLP destination), when the PAS answers slot queries. */
  readonly queryDestination?: MllpDestination;
  readonly log: Logger;
  readonly now?: () => number;
}

/** What one PAS message did to the mirror. */
export type DiaryOutcome =
  | { readonly outcome: 'held' | 'released' | 'touched'; readonly healthcareService?: string; readonly ours: boolean; readonly clash: number }
  | { readonly outcome: 'ignored'; readonly reason: string };

/** Occupancy of the slots of one search. */
export interface Occupancy {
  /** Holders per slot id. */
  readonly counts: Map<string, number>;
  /** Where the PAS side came from. */
  readonly source: 'pas' | 'mirror';
  /** When the PAS side was last known true (ms): now for a query, the last feed/query for the mirror. */
  readonly asOf: number | undefined;
  /** Why the query was not used (timeout, unreachable, refused, unreadable). */
  readonly fallback?: string;
}

const pasKey = (appointmentId: string): string => `pas:${appointmentId}`;

export class Diary {
  readonly mirror: MirrorStore;
  private readonly now: () => number;

  constructor(private readonly deps: DiaryDeps) {
    this.mirror = new MirrorStore(deps.redis, deps.store.prefix);
    this.now = deps.now ?? Date.now;
  }

  get settings(): DiarySettings {
    return this.deps.settings;
  }

  /** Services whose mirror is fed (a clinic maps to them). */
  services(): string[] {
    return [...new Set(this.deps.settings.clinics.map((c) => c.healthcareService))];
  }

  private schedulesOf(hcs: string): SlotSchedule[] {
    return this.deps.schedules.filter((s) => s.healthcareService.toLowerCase() === hcs.toLowerCase());
  }

  private async ourAppointment(placerId: string): Promise<{ id: string; slotId?: string } | undefined> {
    if (!placerId || placerId.length > 64) {
      return undefined;
    }
    const record = await this.deps.store.getRecord('Appointment', placerId.toLowerCase());
    return record ? { id: record.id, ...(record.slotId ? { slotId: record.slotId } : {}) } : undefined;
  }

  /** Applies one PAS message (any type; only SIU changes occupancy). Idempotent: a retried job gives the same state. */
  async applyMessage(text: string): Promise<DiaryOutcome> {
    const ev = readSiu(text, diaryReading(this.deps.settings));
    if (isRefusal(ev)) {
      return { outcome: 'ignored', reason: ev.refused };
    }
    const hcs = ev.clinic ? serviceOfClinic(this.deps.settings, ev.clinic) : undefined;
    if (ev.clinic && !hcs) {
      this.deps.log.info({ controlId: ev.controlId, trigger: ev.trigger, clinic: ev.clinic.slice(0, 64) }, 'diary: scheduling message for a clinic not mapped to a HealthcareService; ignored');
      return { outcome: 'ignored', reason: 'unmapped-clinic' };
    }
    const now = this.now();
    const ours = await this.ourAppointment(ev.placerId);
    if (hcs) {
      await this.mirror.markSeen('feed', hcs, now);
    }
    if (ev.effect === 'hold') {
      const entry: MirrorEntry = { appointmentId: ev.appointmentId, startMs: ev.startMs!, endMs: ev.endMs!, ...(ours ? { ours: ours.id } : {}), trigger: ev.trigger, at: now };
      const clash = ours ? 0 : await this.clashes(hcs!, ev, entry, now);
      if (!(await this.mirror.hold(hcs!, entry, now))) {
        this.deps.log.error({ healthcareService: hcs, controlId: ev.controlId }, 'diary: mirror full for this service; appointment not recorded');
      }
      this.deps.log.info({ healthcareService: hcs, trigger: ev.trigger, controlId: ev.controlId, ours: Boolean(ours), clash }, 'diary: slot held by the PAS');
      return { outcome: 'held', healthcareService: hcs!, ours: Boolean(ours), clash };
    }
    if (ev.effect === 'release') {
      const services = hcs ? [hcs] : this.services();
      let released = false;
      for (const s of services) {
        released = (await this.mirror.release(s, ev.appointmentId)) !== undefined || released;
      }
      if (ours?.slotId) {
        // The PAS cancelled (or deleted) a booking of ours: its slot is free again on our side too. The record's own
        // status follows the pas-events rule (SIU^S15 → Appointment cancelled).
        await this.deps.redis.srem(this.deps.store.keys.slot(ours.slotId), ours.id);
        released = true;
      }
      this.deps.log.info({ healthcareService: hcs, trigger: ev.trigger, controlId: ev.controlId, ours: Boolean(ours), released }, 'diary: slot released by the PAS');
      return { outcome: 'released', ...(hcs ? { healthcareService: hcs } : {}), ours: Boolean(ours), clash: 0 };
    }
    return { outcome: 'touched', ...(hcs ? { healthcareService: hcs } : {}), ours: Boolean(ours), clash: 0 };
  }

  /** The slots of `hcs` the new PAS appointment lands on; each that is over capacity with one of ours in it is a conflict. */
  private async clashes(hcs: string, ev: DiaryEvent, entry: MirrorEntry, now: number): Promise<number> {
    const slots = this.schedulesOf(hcs)
      .flatMap((s) => generateSlots(s, entry.startMs - s.slotMinutes * 60_000, entry.endMs))
      .filter((s) => overlaps(entry, s));
    if (slots.length === 0) {
      return 0;
    }
    const others = (await this.mirror.entries(hcs)).filter((e) => e.appointmentId !== entry.appointmentId);
    const members = await this.ourMembers(slots);
    let found = 0;
    for (const slot of slots) {
      const mine = members.get(slot.id)!;
      if (mine.size === 0) {
        continue;
      }
      const holders = new Set(mine);
      for (const e of others) {
        if (overlaps(e, slot)) {
          holders.add(e.ours ?? pasKey(e.appointmentId));
        }
      }
      holders.add(pasKey(entry.appointmentId));
      if (holders.size > slot.schedule.capacity) {
        found += 1;
        const conflict: DiaryConflict = {
          id: `clash-${ev.appointmentId.slice(0, 64)}-${slot.id}`,
          kind: 'pas-clash',
          at: new Date(now).toISOString(),
          healthcareService: hcs,
          slotStart: slot.start,
          appointments: [...mine],
          pasAppointment: ev.appointmentId.slice(0, 64),
          controlId: ev.controlId.slice(0, 64),
          reason: 'clash',
        };
        if (await this.mirror.recordConflict(conflict, now)) {
          this.deps.log.error({ conflict: conflict.id, healthcareService: hcs, appointments: conflict.appointments, controlId: conflict.controlId }, 'diary conflict: the PAS booked time one of our bookings holds');
        }
      }
    }
    return found;
  }

  private async ourMembers(slots: readonly GeneratedSlot[]): Promise<Map<string, Set<string>>> {
    const pipe = this.deps.redis.pipeline();
    for (const s of slots) {
      pipe.smembers(this.deps.store.keys.slot(s.id));
    }
    const results = (await pipe.exec()) ?? [];
    return new Map(slots.map((s, i) => [s.id, new Set(((results[i]?.[1] as string[] | undefined) ?? []))]));
  }

  /** The PAS side of one service's occupancy in a range: a real-time query when configured, else the mirror. */
  private async pasSide(hcs: string, fromMs: number, toMs: number): Promise<{ held: Array<{ key: (ours: Set<string>) => string; startMs: number; endMs: number }>; source: 'pas' | 'mirror'; asOf: number | undefined; fallback?: string }> {
    const q = this.deps.settings.query;
    const clinics = clinicsOf(this.deps.settings, hcs);
    let fallback: string | undefined;
    if (q && this.deps.queryDestination && clinics.length > 0) {
      const started = this.now();
      try {
        const answers = await Promise.all(
          clinics.map((clinic) => querySlots(this.deps.queryDestination!, diaryReading(this.deps.settings), { clinic, fromMs, toMs, timeoutMs: q.timeoutMs, limit: q.limit })),
        );
        const now = this.now();
        await this.mirror.markSeen('query', hcs, now);
        this.deps.log.debug({ healthcareService: hcs, ms: now - started, appointments: answers.flat().length }, 'diary: PAS slot query answered');
        const held = answers.flat().map((a: DiaryAppointment) => ({
          // An appointment the PAS got from us carries our id in SCH-1: counted under it, once.
          key: (ours: Set<string>) => (ours.has(a.placerId.toLowerCase()) ? a.placerId.toLowerCase() : pasKey(a.appointmentId)),
          startMs: a.startMs!,
          endMs: a.endMs!,
        }));
        return { held, source: 'pas', asOf: now };
      } catch (err) {
        fallback = err instanceof SlotQueryError ? err.reason : 'unreachable';
      }
    }
    const entries = await this.mirror.entries(hcs);
    const seen = (await this.mirror.seen()).get(hcs);
    const asOf = seen ? Math.max(seen.feed ?? 0, seen.query ?? 0) || undefined : undefined;
    if (fallback) {
      this.deps.log.warn(
        { healthcareService: hcs, reason: fallback, mirrorAgeSeconds: asOf ? Math.round((this.now() - asOf) / 1000) : null },
        'diary: PAS slot query failed; answering from the mirror',
      );
    }
    return {
      held: entries.map((e) => ({ key: () => e.ours ?? pasKey(e.appointmentId), startMs: e.startMs, endMs: e.endMs })),
      source: 'mirror',
      asOf,
      ...(fallback ? { fallback } : {}),
    };
  }

  /** Holders of each slot of a search (our bookings ∪ the PAS's), and where the PAS side came from. */
  async occupancy(slots: readonly GeneratedSlot[]): Promise<Occupancy> {
    const members = await this.ourMembers(slots);
    const counts = new Map<string, number>();
    let source: Occupancy['source'] = 'mirror';
    let asOf: number | undefined;
    let fallback: string | undefined;
    const byService = new Map<string, GeneratedSlot[]>();
    for (const s of slots) {
      byService.set(s.schedule.healthcareService, [...(byService.get(s.schedule.healthcareService) ?? []), s]);
    }
    for (const [hcs, list] of byService) {
      const fed = clinicsOf(this.deps.settings, hcs).length > 0;
      const side = fed ? await this.pasSide(hcs, Math.min(...list.map((s) => s.startMs)), Math.max(...list.map((s) => s.endMs))) : undefined;
      if (side) {
        source = side.source;
        asOf = side.asOf;
        fallback = side.fallback;
      }
      for (const slot of list) {
        const holders = new Set(members.get(slot.id));
        for (const h of side?.held ?? []) {
          if (overlaps(h, slot)) {
            holders.add(h.key(members.get(slot.id)!));
          }
        }
        counts.set(slot.id, holders.size);
      }
    }
    return { counts, source, asOf, ...(fallback ? { fallback } : {}) };
  }

  /** How many PAS appointments or blocks (not ours) the mirror has on a slot: what a booking must leave room for. */
  async heldByPas(slot: GeneratedSlot): Promise<number> {
    const hcs = slot.schedule.healthcareService;
    if (clinicsOf(this.deps.settings, hcs).length === 0) {
      return 0;
    }
    return (await this.mirror.entries(hcs)).filter((e) => !e.ours && overlaps(e, slot)).length;
  }

  /** Our booking-new message was refused by the PAS for good (dead letter with AR/CR …): a conflict for ops. */
  async recordRefusal(r: { appointmentId: string; messageId: string; controlId: string; reason: string }): Promise<boolean> {
    const now = this.now();
    const conflict: DiaryConflict = {
      id: `refused-${r.messageId}`,
      kind: 'pas-refused',
      at: new Date(now).toISOString(),
      appointments: [r.appointmentId],
      messageId: r.messageId,
      controlId: r.controlId,
      reason: r.reason,
    };
    const added = await this.mirror.recordConflict(conflict, now);
    if (added) {
      this.deps.log.error({ conflict: conflict.id, appointmentId: r.appointmentId, messageId: r.messageId, reason: r.reason }, 'diary conflict: the PAS refused a booking we had acknowledged');
    }
    return added;
  }

  /** Mirror age per fed service, seconds (undefined: never heard from the PAS about it). */
  async ages(): Promise<Array<{ healthcareService: string; ageSeconds: number | undefined; feedAgeSeconds: number | undefined }>> {
    const seen = await this.mirror.seen();
    const now = this.now();
    return this.services().map((hcs) => {
      const s = seen.get(hcs);
      const last = s ? Math.max(s.feed ?? 0, s.query ?? 0) : 0;
      return {
        healthcareService: hcs,
        ageSeconds: last > 0 ? Math.max(0, Math.round((now - last) / 1000)) : undefined,
        feedAgeSeconds: s?.feed ? Math.max(0, Math.round((now - s.feed) / 1000)) : undefined,
      };
    });
  }
}

/**
 * The conflicts ops must see (newest first): the read function for the console and the CLI. Needs only Redis and the
 * key prefix.
 */
export function listDiaryConflicts(redis: Redis, prefix: string, options: { sinceMs?: number; limit?: number } = {}): Promise<DiaryConflict[]> {
  return new MirrorStore(redis, prefix).conflicts(options);
}

/** Mirror age per service (the console's staleness column): last feed message and last successful query, ms. */
export function diarySeen(redis: Redis, prefix: string): Promise<Map<string, { feed?: number; query?: number }>> {
  return new MirrorStore(redis, prefix).seen();
}
