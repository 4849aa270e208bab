/*
 * The PAS simulator's diary: the appointments of its clinics, so the diary paths run against a real MLLP peer.
 *  - `book` / `cancel`: a PAS-side booking or cancellation (reception, another system), sent to bars-bridge's PAS events
 *    listener as SIU^S12 / SIU^S15 shaped like the trust samples (test/fixtures/diary/trust-pas-siu/: the clinic in a
 *    ZBX segment, local time without an offset in SCH-11, the PAS's own id in SCH-1) — plus SCH-2 filler id.
 *  - our SIU^S12 (a BaRS booking): taken into the diary, or answered AR when the time is already full (a race the
 *    mirror could not see); accepted bookings are echoed back as SIU^S12 with our id kept in SCH-1, as PAS interfaces
 *    do when they notify every subscriber of a new appointment. Our SIU^S15 frees the time.
 *  - SQM^S25: answered with SQR^S25 listing the clinic's appointments in the asked range (or late / not at all).
 * Synthetic data only.
 */
import { readHl7, valueAt } from '../protocol/hl7/er7.js';
import { hl7Utc, parseHl7Time } from '../flows/diary/schedule-hl7.js';
import { zoneOffsetMinutes } from '../flows/intake/slots.js';
import type { AckCode, MessageHeader } from '../protocol/hl7/header.js';
import type { AckResult } from '../protocol/hl7/mllp-client.js';
import { hl7Timestamp } from '../protocol/hl7/ack.js';
import { sendPasEvent } from './pas-sim-events.js';

export interface SimAppointment {
  /** The PAS's (filler) id. */
  readonly id: string;
  /** Our Appointment id for a booking that came from bars-bridge. */
  readonly placerId?: string;
  readonly clinic: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface SimDiaryOptions {
  /** The clinic our SIU bookings go into (our SIU names the service, not the PAS clinic). */
  readonly clinic: string;
  /** Appointments one clinic time can hold (default 1). */
  readonly capacity?: number;
  /** bars-bridge's PAS events listener, for book/cancel and echoes. */
  readonly events?: { host: string; port: number };
  /** Echo our accepted bookings back as SIU^S12 (default true). */
  readonly echo?: boolean;
  /** Answer a booking on full time with AR (default true; false = double-book silently and say nothing). */
  readonly rejectClashes?: boolean;
  /** Slot queries: answer (default), answer after `delayMs`, or stay silent. */
  readonly query?: { readonly mode: 'answer' | 'silent'; readonly delayMs?: number };
  /** Wall-clock zone of the times it sends (the trust's PAS sends local time without an offset). */
  readonly timeZone?: string;
}

/** What the simulator does with an inbound message the diary handles. */
export type DiaryReply = { readonly kind: 'reply'; readonly text: string; readonly delayMs?: number } | { readonly kind: 'ack'; readonly code: AckCode; readonly text?: string } | { readonly kind: 'silent' };

const field = (text: string, seg: string, n: number, comp = 1): string => {
  const s = readHl7(text).find((x) => x.type === seg);
  return s ? valueAt(s, n, 1, comp, 1) : '';
};

export class SimDiary {
  readonly appointments = new Map<string, SimAppointment>();
  /** Sends to the events listener, with their outcomes (tests wait on these). */
  readonly sent: Array<{ controlId: string; trigger: string; at: number; ack?: AckResult; error?: string }> = [];
  private counter = 0;
  private options: SimDiaryOptions;

  constructor(options: SimDiaryOptions) {
    this.options = options;
  }

  configure(options: Partial<SimDiaryOptions>): void {
    this.options = { ...this.options, ...options };
  }

  private nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}${String(Date.now()).slice(-6)}${this.counter}`;
  }

  private localTs(ms: number): string {
    const zone = this.options.timeZone ?? 'Europe/London';
    const iso = new Date(ms + zoneOffsetMinutes(zone, ms) * 60_000).toISOString();
    return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
  }

  private held(clinic: string, startMs: number, endMs: number, except?: string): SimAppointment[] {
    return [...this.appointments.values()].filter((a) => a.id !== except && a.clinic === clinic && a.startMs < endMs && a.endMs > startMs);
  }

  /** SCH (+ ZBX, PID, RGS, AIL) of one appointment, as the trust's PAS writes it. */
  private siu(trigger: 'S12' | 'S15', a: SimAppointment, controlId: string): string {
    const ts = hl7Timestamp(new Date());
    const minutes = Math.round((a.endMs - a.startMs) / 60_000);
    const status = trigger === 'S15' ? 'Cancelled' : 'Booked';
    return (
      [
        `MSH|^~\\&|PAS|RXX|BARS|RXX|${ts}||SIU^${trigger}^SIU_S12|${controlId}|P|2.4`,
        `EVN|${trigger}|${ts}`,
        `SCH|${a.placerId ?? a.id}|${a.id}|||||||${minutes}|MIN|^^${minutes}^${this.localTs(a.startMs)}^${this.localTs(a.endMs)}||||||||||||||${status}`,
        `ZBX|1|CE|CLINIC_CODE_INFO||${a.clinic}^Simulated clinic`,
        'PID|1||SIM0001^^^RXX^MR||TEST^PATIENT',
        'RGS|1',
        `AIL|1||${a.clinic}`,
      ].join('\r') + '\r'
    );
  }

  private async send(trigger: 'S12' | 'S15', a: SimAppointment): Promise<AckResult> {
    const events = this.options.events;
    if (!events) {
      throw new Error('the simulator diary has no PAS events target');
    }
    const controlId = this.nextId('SIMSIU');
    const record: { controlId: string; trigger: string; at: number; ack?: AckResult; error?: string } = { controlId, trigger, at: Date.now() };
    this.sent.push(record);
    try {
      record.ack = await sendPasEvent(events, this.siu(trigger, a, controlId), controlId);
      return record.ack;
    } catch (err) {
      record.error = (err as Error).message;
      throw err;
    }
  }

  /** A PAS-side booking: into the diary, then SIU^S12 to bars-bridge. */
  async book(b: { startMs: number; endMs: number; clinic?: string; id?: string }): Promise<{ appointment: SimAppointment; ack: AckResult }> {
    const appointment: SimAppointment = { id: b.id ?? this.nextId('APT'), clinic: b.clinic ?? this.options.clinic, startMs: b.startMs, endMs: b.endMs };
    this.appointments.set(appointment.id, appointment);
    return { appointment, ack: await this.send('S12', appointment) };
  }

  /** A PAS-side cancellation: out of the diary, then SIU^S15 to bars-bridge. */
  async cancel(id: string): Promise<AckResult> {
    const a = this.appointments.get(id);
    if (!a) {
      throw new Error(`no appointment ${id}`);
    }
    this.appointments.delete(id);
    return this.send('S15', a);
  }

  /** Handles a message bars-bridge sent; undefined = not a diary message (the simulator's scenario answers it). */
  handle(text: string, header: MessageHeader): DiaryReply | undefined {
    const [code, trigger] = header.messageType.split(header.componentSeparator);
    if (code === 'SQM' && trigger === 'S25') {
      const q = this.options.query ?? { mode: 'answer' };
      return q.mode === 'silent' ? { kind: 'silent' } : { kind: 'reply', text: this.answer(text, header.controlId), ...(q.delayMs ? { delayMs: q.delayMs } : {}) };
    }
    if (code !== 'SIU') {
      return undefined;
    }
    const placerId = field(text, 'SCH', 1);
    if (trigger === 'S15' || trigger === 'S17') {
      for (const a of this.appointments.values()) {
        if (a.placerId === placerId) {
          this.appointments.delete(a.id);
        }
      }
      return { kind: 'ack', code: 'AA' };
    }
    if (trigger !== 'S12') {
      return undefined;
    }
    const startMs = parseHl7Time(field(text, 'SCH', 11, 4), this.options.timeZone ?? 'Europe/London');
    const endMs = parseHl7Time(field(text, 'SCH', 11, 5), this.options.timeZone ?? 'Europe/London') ?? startMs;
    if (startMs === undefined || endMs === undefined || !placerId) {
      return { kind: 'ack', code: 'AR', text: 'SCH-1 and SCH-11 start are required' };
    }
    const clinic = this.options.clinic;
    if (this.held(clinic, startMs, endMs).length >= (this.options.capacity ?? 1) && this.options.rejectClashes !== false) {
      return { kind: 'ack', code: 'AR', text: 'Slot not available' };
    }
    const appointment: SimAppointment = { id: this.nextId('APT'), placerId, clinic, startMs, endMs };
    this.appointments.set(appointment.id, appointment);
    if (this.options.echo !== false && this.options.events) {
      // After our ACK has gone: a PAS notifies its subscribers once the booking is committed.
      setTimeout(() => void this.send('S12', appointment).catch(() => undefined), 10);
    }
    return { kind: 'ack', code: 'AA' };
  }

  /** SQR^S25 for an SQM^S25: the clinic's (AIL-3, else QRD-8) appointments that overlap ARQ-11 from^to. */
  private answer(text: string, controlId: string): string {
    const clinic = field(text, 'AIL', 3) || field(text, 'QRD', 8);
    const zone = this.options.timeZone ?? 'Europe/London';
    const from = parseHl7Time(field(text, 'ARQ', 11, 1), zone) ?? 0;
    const to = parseHl7Time(field(text, 'ARQ', 11, 2), zone) ?? Number.MAX_SAFE_INTEGER;
    const found = this.held(clinic, from, to + 1);
    const ts = hl7Timestamp(new Date());
    const lines = [
      `MSH|^~\\&|PAS|RXX|BARS-BRIDGE|BARS|${ts}||SQR^S25^SQR_S25|${this.nextId('SIMQ')}|P|2.4`,
      `MSA|AA|${controlId}`,
      `QAK|${field(text, 'QRD', 4)}|${found.length > 0 ? 'OK' : 'NF'}`,
    ];
    for (const a of found) {
      const minutes = Math.round((a.endMs - a.startMs) / 60_000);
      // The answer carries UTC with an offset: a query answer is read by a machine that asked in UTC.
      lines.push(`SCH|${a.placerId ?? a.id}|${a.id}|||||||${minutes}|MIN|^^${minutes}^${hl7Utc(a.startMs)}^${hl7Utc(a.endMs)}||||||||||||||Booked`, 'RGS|1', `AIL|1||${a.clinic}`);
    }
    return lines.join('\r') + '\r';
  }
}
