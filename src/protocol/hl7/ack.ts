/*
 * Builds the HL7 v2 original-mode acknowledgement a PAS sends back: MSH with sending and receiving application /
 * facility swapped (MSH-3/4 ↔ MSH-5/6), MSH-9 `ACK^<trigger>^ACK`, a fresh MSH-10, MSH-11/12 echoed, and
 * MSA-1 = code, MSA-2 = the original MSH-10 (that pairing is what the sender matches on).
 */
import type { AckCode, MessageHeader } from './header.js';

/** HL7 DTM to the second, local time as PAS systems usually stamp it. */
export function hl7Timestamp(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`
  );
}

/** What to put in an ACK beyond the original's header. */
export interface AckSpec {
  readonly code: AckCode;
  /** MSH-10 of the ACK itself. */
  readonly ackControlId: string;
  /** MSA-2; defaults to the original MSH-10 (override only to simulate a broken PAS). */
  readonly acknowledgedControlId?: string;
  /** MSA-3 Text Message. */
  readonly text?: string;
  /** An ERR segment: the MSH field in error (none: the segment) and its HL7 table 0357 code (text as in MSA-3). */
  readonly error?: { readonly field: number | undefined; readonly code: number };
  readonly now?: Date;
}

/**
 * Builds an ACK for a received message.
 * @param original - MSH of the message being acknowledged.
 * @param spec - code, control ids and text.
 * @returns ER7 text, segments separated by CR (no trailing MLLP framing).
 */
export function buildAck(original: MessageHeader, spec: AckSpec): string {
  const f = original.fieldSeparator;
  const c = original.componentSeparator;
  const trigger = original.messageType.split(c)[1] ?? '';
  const msh = [
    'MSH',
    original.encodingCharacters || '^~\\&',
    original.receivingApplication,
    original.receivingFacility,
    original.sendingApplication,
    original.sendingFacility,
    hl7Timestamp(spec.now ?? new Date()),
    '',
    trigger ? `ACK${c}${trigger}${c}ACK` : 'ACK',
    spec.ackControlId,
    original.processingId || 'P',
    original.versionId || '2.4',
  ].join(f);
  const msa = ['MSA', spec.code, spec.acknowledgedControlId ?? original.controlId];
  if (spec.text !== undefined) {
    msa.push(spec.text);
  }
  let err = '';
  if (spec.error) {
    // ERR-1 (v2.4 CM_ELD: segment^sequence^field^code&text&table) for v2.4 peers, ERR-2 location, ERR-3 code and
    // ERR-4 severity for v2.5+ peers (ERR-1 is kept there for backward compatibility).
    const s = (original.encodingCharacters || '^~\\&').charAt(3) || '&';
    const location = ['MSH', '1', ...(spec.error.field === undefined ? [] : [String(spec.error.field)])].join(c);
    const code = String(spec.error.code);
    const text = spec.text ?? '';
    err = `${['ERR', [location, [code, text, 'HL70357'].join(s)].join(c), location, [code, text, 'HL70357'].join(c), 'E'].join(f)}\r`;
  }
  return `${msh}\r${msa.join(f)}\r${err}`;
}
