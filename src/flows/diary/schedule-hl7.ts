/*
 * HL7 v2 scheduling messages (v2.4 chapter 10) → slot occupancy, and the slot query we send. Pure: no Redis, no
 * config, no sockets.
 *
 * What a real PAS export looks like decided which fields are read (test/fixtures/diary/trust-pas-siu/, an NHS trust's
 * SIU^S12/S14/S15/S26 samples): SCH-1 Placer Appointment ID carries the PAS's own appointment id (`APT001`), SCH-2 is
 * empty; the time is in SCH-11 Appointment Timing Quantity (TQ-3 duration, TQ-4 start, TQ-5 end) as local time without
 * an offset; SCH-25 Filler Status Code is a local numeric code (the S15 cancellation carries `4`); the clinic is named
 * only in a Z-segment (`ZBX|1|CE|CLINIC_CODE_INFO||GEN345_BAB^General Morning Clinic`), not in AIL/AIG; AIP-3 names
 * the consultant. So which field names the clinic, and which status codes free a slot, are configuration
 * (mappings/pas-events/diary.yaml), tried in order; v2.5+ timing (TQ1-7 / TQ1-8) is read when SCH-11 is empty.
 *
 * Triggers (HL7 v2.4 table 0003): S12 new booking, S13 rescheduling, S14 modification and S23 blocked time hold the
 * slot; S15 cancellation, S16 discontinuation, S17 deletion and S24 opened (unblocked) time free it; S26 no-show and
 * the S18–S22 service/resource notifications do not change occupancy.
 */
import { readHl7, valueAt, type ParsedSegment } from '../../protocol/hl7/er7.js';
import { zoneOffsetMinutes } from '../intake/slots.js';

export type DiaryEffect = 'hold' | 'release' | 'none';

const HOLD = new Set(['S12', 'S13', 'S14', 'S23']);
const RELEASE = new Set(['S15', 'S16', 'S17', 'S24']);

/** How one PAS names things: the fields that carry the clinic code, and the SCH-25 codes that free a slot. */
export interface DiaryReading {
  /** HL7 field paths (`AIL-3.1`, `ZBX-5.1` …), tried in order; the first non-empty value is the clinic. */
  readonly clinicFields: readonly string[];
  /** SCH-25.1 Filler Status Codes meaning the appointment no longer holds its time (compared case-insensitively). */
  readonly releaseStatuses: readonly string[];
  /** IANA zone of HL7 timestamps that carry no offset (PAS local time). */
  readonly timeZone: string;
}

/** One appointment (or blocked period) as a scheduling message describes it. Ids and times only: no PHI. */
export interface DiaryAppointment {
  /** The PAS's id of the appointment: SCH-2.1 Filler Appointment ID, else SCH-1.1 (what the trust's PAS fills). */
  readonly appointmentId: string;
  /** SCH-1.1 Placer Appointment ID: OUR Appointment id when the PAS echoes a booking we sent (mappings/_shared/siu.yaml). */
  readonly placerId: string;
  readonly clinic: string | undefined;
  readonly startMs: number | undefined;
  readonly endMs: number | undefined;
  /** SCH-25.1 (or TQ1/ARQ-less absence: ''). */
  readonly fillerStatus: string;
}

export interface DiaryEvent extends DiaryAppointment {
  /** MSH-9.2 trigger event, e.g. S12. */
  readonly trigger: string;
  readonly controlId: string;
  readonly effect: DiaryEffect;
}

/** A message that is not a scheduling notification we can apply, and why (a code, never message content). */
export interface DiaryRefusal {
  readonly refused: 'not-siu' | 'no-appointment-id' | 'no-time' | 'no-clinic';
}

function fieldOf(segments: readonly ParsedSegment[], path: string, from = 0, until = segments.length): string {
  const m = /^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(path);
  if (!m) {
    return '';
  }
  for (let i = from; i < until; i++) {
    const s = segments[i]!;
    if (s.type === m[1]) {
      const v = valueAt(s, Number(m[2]), 1, Number(m[3] ?? 1), Number(m[4] ?? 1)).trim();
      if (v) {
        return v;
      }
    }
  }
  return '';
}

/**
 * HL7 TS/DTM (YYYYMMDDHHMM[SS[.S+]][+/-ZZZZ]) → epoch ms. Without an offset the value is wall-clock time in `zone`
 * (two passes settle the DST boundary, as src/bars/slots.ts does for opening hours). undefined when unreadable.
 */
export function parseHl7Time(ts: string, zone: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$/.exec(ts.trim());
  if (!m) {
    return undefined;
  }
  const naive = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  if (!Number.isFinite(naive)) {
    return undefined;
  }
  if (m[7]) {
    const sign = m[7][0] === '-' ? -1 : 1;
    return naive - sign * (Number(m[7].slice(1, 3)) * 60 + Number(m[7].slice(3, 5))) * 60_000;
  }
  let guess = naive - zoneOffsetMinutes(zone, naive) * 60_000;
  guess = naive - zoneOffsetMinutes(zone, guess) * 60_000;
  return guess;
}

/** Epoch ms → HL7 TS in UTC with an explicit offset (what we send: no guessing of the PAS's zone). */
export function hl7Utc(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}+0000`;
}

/** Reads the appointment of the SCH group that starts at segment `at` (up to the next SCH). */
function appointmentAt(segments: readonly ParsedSegment[], at: number, reading: DiaryReading): DiaryAppointment {
  let until = segments.findIndex((s, i) => i > at && s.type === 'SCH');
  if (until < 0) {
    until = segments.length;
  }
  const f = (path: string): string => fieldOf(segments, path, at, until);
  const placerId = f('SCH-1.1');
  const appointmentId = f('SCH-2.1') || placerId;
  const zone = reading.timeZone;
  // SCH-11 TQ (v2.4): TQ-4 start, TQ-5 end, TQ-3 duration (the trust sends minutes, e.g. `20`; `M20` also read).
  // v2.5+: TQ1-7 start, TQ1-8 end. AIS-4 / AIL-6 / AIG-8 start date/time as a last resort for the start.
  const startText = f('SCH-11.4') || f('TQ1-7.1') || f('AIS-4.1') || f('AIL-6.1') || f('AIG-8.1');
  const endText = f('SCH-11.5') || f('TQ1-8.1');
  const startMs = startText ? parseHl7Time(startText, zone) : undefined;
  let endMs = endText ? parseHl7Time(endText, zone) : undefined;
  if (endMs === undefined && startMs !== undefined) {
    const duration = /^M?(\d{1,4})$/.exec(f('SCH-11.3')) ?? /^(\d{1,4})$/.exec(f('SCH-9.1'));
    if (duration) {
      endMs = startMs + Number(duration[1]) * 60_000;
    }
  }
  let clinic: string | undefined;
  for (const path of reading.clinicFields) {
    // A clinic field may sit in a segment of this group or in one of the message's Z-segments before the next SCH.
    const v = f(path);
    if (v) {
      clinic = v;
      break;
    }
  }
  return { appointmentId, placerId, clinic, startMs, endMs: endMs ?? startMs, fillerStatus: f('SCH-25.1') };
}

/**
 * One SIU message → the occupancy change it describes.
 * @returns the event, or a refusal code for a message that cannot change occupancy (not SIU, no id, no time or clinic
 *   for a hold).
 */
export function readSiu(text: string, reading: DiaryReading): DiaryEvent | DiaryRefusal {
  const segments = readHl7(text);
  const msh = segments[0];
  if (!msh || msh.type !== 'MSH' || valueAt(msh, 9, 1, 1, 1) !== 'SIU') {
    return { refused: 'not-siu' };
  }
  const trigger = valueAt(msh, 9, 1, 2, 1);
  const controlId = valueAt(msh, 10, 1, 1, 1);
  const sch = segments.findIndex((s) => s.type === 'SCH');
  if (sch < 0) {
    return { refused: 'no-appointment-id' };
  }
  const appointment = appointmentAt(segments, sch, reading);
  if (!appointment.appointmentId) {
    return { refused: 'no-appointment-id' };
  }
  const released = reading.releaseStatuses.some((s) => s.toLowerCase() === appointment.fillerStatus.toLowerCase());
  const effect: DiaryEffect = RELEASE.has(trigger) || (HOLD.has(trigger) && released) ? 'release' : HOLD.has(trigger) ? 'hold' : 'none';
  if (effect === 'hold' && (appointment.startMs === undefined || appointment.endMs === undefined)) {
    return { refused: 'no-time' };
  }
  if (effect === 'hold' && !appointment.clinic) {
    return { refused: 'no-clinic' };
  }
  return { ...appointment, trigger, controlId, effect };
}

export const isRefusal = (r: DiaryEvent | DiaryRefusal): r is DiaryRefusal => 'refused' in r;

/** What we ask the PAS: the booked time of one clinic in a range (SQM^S25, HL7 v2.4 §10.3.1). */
export interface SlotQuery {
  readonly controlId: string;
  readonly clinic: string;
  readonly fromMs: number;
  readonly toMs: number;
  readonly now: number;
  /** QRD-7 quantity limit: at most this many appointments in the answer. */
  readonly limit: number;
}

/**
 * Builds SQM^S25 Schedule Query (v2.4 §10.3.1, SQM_S25: MSH QRD [QRF] [ARQ … {RGS [AIL]}]): QRD-4 the query id (our
 * MSH-10), QRD-7 the quantity limit in records (`n^RD`), QRD-8 Who Subject Filter the clinic, QRD-9 What Subject
 * Filter `APP` (appointments); ARQ-11 Requested Start Date/Time Range `from^to`; AIL-3 the location resource (clinic).
 */
export function buildSlotQuery(q: SlotQuery): string {
  const ts = hl7Utc(q.now);
  return (
    [
      `MSH|^~\\&|BARS-BRIDGE|BARS|PAS|PAS|${ts}||SQM^S25^SQM_S25|${q.controlId}|P|2.4`,
      `QRD|${ts}|R|I|${q.controlId}|||${q.limit}^RD|${q.clinic}|APP`,
      `ARQ|||||||||||${hl7Utc(q.fromMs)}^${hl7Utc(q.toMs)}`,
      'RGS|1',
      `AIL|1||${q.clinic}`,
    ].join('\r') + '\r'
  );
}

/** The PAS's answer to a slot query. */
export interface SlotAnswer {
  /** MSA-1. */
  readonly ack: string;
  /** QAK-2 Query Response Status: OK (data), NF (no data), AE/AR (error). */
  readonly status: string;
  /** The appointments (and blocks) still holding time: those with a release status are left out. */
  readonly held: readonly DiaryAppointment[];
}

/**
 * Reads SQR^S25 Schedule Query Response (v2.4 §10.3.2, SQR_S25: MSH MSA [ERR] QAK {SCH [NTE] [PID…] {RGS [AIS] [AIG]
 * [AIL] [AIP]}} [DSC]): one SCH group per appointment in the range; the clinic is the one asked about.
 */
export function readSlotAnswer(text: string, reading: DiaryReading, clinic: string): SlotAnswer {
  const segments = readHl7(text);
  const ack = fieldOf(segments, 'MSA-1');
  const status = fieldOf(segments, 'QAK-2') || (ack === 'AA' ? 'OK' : ack);
  const held: DiaryAppointment[] = [];
  segments.forEach((s, i) => {
    if (s.type !== 'SCH') {
      return;
    }
    const a = appointmentAt(segments, i, reading);
    const released = reading.releaseStatuses.some((r) => r.toLowerCase() === a.fillerStatus.toLowerCase());
    if (a.startMs !== undefined && a.endMs !== undefined && !released) {
      held.push({ ...a, clinic: a.clinic ?? clinic });
    }
  });
  return { ack, status, held };
}
