/*
 * Builds the HL7 v2 original-mode acknowledgement a PAS sends back: MSH with sending and receiving application /
 * facility swapped (MSH-3/4 ↔ MSH-5/6), MSH-9 `ACK^<trigger>^ACK`, a fresh MSH-10, MSH-11/12 echoed, and
 * MSA-1 = code, MSA-2 = the original MSH-10 (that pairing is what the sender matches on).
 */
import type { AckCode, MessageHeader } from '../delivery/hl7-header.js';

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
  return `${msh}\r${msa.join(f)}\r`;
}
