/*
 * Slots this instance offers, generated from the schedules in configuration (opening hours per weekday, slot length,
 * capacity). BaRS APP1: slots are "real-time without caching", so free/busy comes from the bookings in the store at
 * the moment of the search. Times are served with their UTC offset in the schedule's zone (TKW: "Slot times … sent in
 * UTC (Z) not Offset (+00:00)" was a defect).
 */
import { createHash } from 'node:crypto';
import type { SlotSchedule } from '../../config/schema.js';

export interface GeneratedSlot {
  readonly id: string;
  readonly schedule: SlotSchedule;
  readonly scheduleId: string;
  /** Instant with offset, e.g. 2026-03-29T08:00:00+01:00. */
  readonly start: string;
  readonly end: string;
  readonly startMs: number;
  readonly endMs: number;
}

/** Deterministic UUID-shaped id (name-based, like RFC 4122 v5) so a slot keeps its id across restarts and instances. */
export function nameUuid(name: string): string {
  const h = createHash('sha1').update(name).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const scheduleIdOf = (s: SlotSchedule): string => nameUuid(`schedule:${s.healthcareService}`);

const offsetCache = new Map<string, Intl.DateTimeFormat>();

/** Offset of `zone` at instant `ms`, in minutes east of UTC. */
export function zoneOffsetMinutes(zone: string, ms: number): number {
  let fmt = offsetCache.get(zone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-GB', { timeZone: zone, timeZoneName: 'longOffset' });
    offsetCache.set(zone, fmt);
  }
  const name = fmt.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

/** Formats an instant as FHIR instant with the zone's offset (no milliseconds). */
export function formatWithOffset(ms: number, offsetMinutes: number): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** UTC ms of local wall time `y-m-d hh:mm` in `zone` (two passes settle DST boundaries). */
function localToUtc(zone: string, y: number, mo: number, d: number, hh: number, mm: number): number {
  const naive = Date.UTC(y, mo, d, hh, mm);
  let guess = naive - zoneOffsetMinutes(zone, naive) * 60_000;
  guess = naive - zoneOffsetMinutes(zone, guess) * 60_000;
  return guess;
}

/** Every slot of `schedule` that starts within [fromMs, toMs]. */
export function generateSlots(schedule: SlotSchedule, fromMs: number, toMs: number): GeneratedSlot[] {
  const out: GeneratedSlot[] = [];
  const scheduleId = scheduleIdOf(schedule);
  const day = new Date(fromMs - 24 * 3600_000);
  day.setUTCHours(0, 0, 0, 0);
  for (let t = day.getTime(); t <= toMs + 24 * 3600_000; t += 24 * 3600_000) {
    const date = new Date(t);
    const hours = schedule.hours[String(date.getUTCDay())];
    const m = hours ? /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(hours) : null;
    if (!m) {
      continue;
    }
    const [y, mo, d] = [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()];
    const open = localToUtc(schedule.timeZone, y, mo, d, Number(m[1]), Number(m[2]));
    const close = localToUtc(schedule.timeZone, y, mo, d, Number(m[3]), Number(m[4]));
    for (let s = open; s + schedule.slotMinutes * 60_000 <= close; s += schedule.slotMinutes * 60_000) {
      if (s < fromMs || s > toMs) {
        continue;
      }
      const e = s + schedule.slotMinutes * 60_000;
      out.push({
        id: nameUuid(`slot:${schedule.healthcareService}:${s}`),
        schedule,
        scheduleId,
        start: formatWithOffset(s, zoneOffsetMinutes(schedule.timeZone, s)),
        end: formatWithOffset(e, zoneOffsetMinutes(schedule.timeZone, e)),
        startMs: s,
        endMs: e,
      });
    }
  }
  return out;
}

/** The configured slot a booking names, found by recomputing ids around the Slot's own start time. */
export function findSlot(schedules: readonly SlotSchedule[], slotId: string, startHint: string | undefined): GeneratedSlot | undefined {
  const hint = startHint ? Date.parse(startHint) : NaN;
  if (!Number.isFinite(hint)) {
    return undefined;
  }
  for (const schedule of schedules) {
    const found = generateSlots(schedule, hint - 60_000, hint + 60_000).find((s) => s.id === slotId);
    if (found) {
      return found;
    }
  }
  return undefined;
}
