/*
 * The few HL7 v2 fields the transport needs, read straight from ER7 text: MSH-10 (Message Control ID) to match an
 * acknowledgement, and MSA-1/MSA-2/MSA-3 (Acknowledgment Code, Message Control ID, Text Message) to judge it.
 *
 * Deliberately tiny and tolerant: the transport must classify an ACK from any PAS without a dictionary, and must
 * never need the clinical content. Field numbers are 1-based as in the standard (MSH-1 is the field separator
 * itself, so in MSH the n-th field is the (n-1)-th piece after splitting).
 */
import { unescapeHl7 } from './er7.js';

/** Acknowledgment codes (HL7 table 0008): original mode AA/AE/AR, enhanced mode commit CA/CE/CR. */
export const ACK_CODES = ['AA', 'AE', 'AR', 'CA', 'CE', 'CR'] as const;
/** One HL7 table 0008 acknowledgment code. */
export type AckCode = (typeof ACK_CODES)[number];

/** The MSH fields the transport and the PAS simulator use. */
export interface MessageHeader {
  readonly fieldSeparator: string;
  readonly componentSeparator: string;
  /** MSH-2 encoding characters as sent (e.g. `^~\&`). */
  readonly encodingCharacters: string;
  readonly sendingApplication: string;
  readonly sendingFacility: string;
  readonly receivingApplication: string;
  readonly receivingFacility: string;
  /** MSH-9 as sent, e.g. `ADT^A04^ADT_A01`. */
  readonly messageType: string;
  /** MSH-10 Message Control ID. */
  readonly controlId: string;
  readonly processingId: string;
  readonly versionId: string;
}

/** Thrown when text is not an HL7 v2 message with an MSH segment (or an ACK without an MSA segment). */
export class Hl7HeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Hl7HeaderError';
  }
}

function segments(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((s) => s.length > 0);
}

/** Reads MSH from ER7 text. Throws Hl7HeaderError when the first segment is not MSH. */
export function readMessageHeader(text: string): MessageHeader {
  const msh = segments(text)[0];
  if (msh === undefined || !msh.startsWith('MSH') || msh.length < 8) {
    throw new Hl7HeaderError('not an HL7 v2 message: first segment is not MSH');
  }
  const fieldSeparator = msh.charAt(3);
  const parts = msh.split(fieldSeparator);
  const field = (n: number): string => parts[n - 1] ?? '';
  const encodingCharacters = field(2);
  return {
    fieldSeparator,
    componentSeparator: encodingCharacters.charAt(0) || '^',
    encodingCharacters,
    sendingApplication: field(3),
    sendingFacility: field(4),
    receivingApplication: field(5),
    receivingFacility: field(6),
    messageType: field(9),
    controlId: field(10),
    processingId: field(11),
    versionId: field(12),
  };
}

/** MSA of an acknowledgement. */
export interface AckSegment {
  /** MSA-1 Acknowledgment Code. */
  readonly code: AckCode;
  /** MSA-2 Message Control ID: the MSH-10 of the message being acknowledged. */
  readonly controlId: string;
  /** MSA-3 Text Message, when the PAS gave one. */
  readonly text: string | undefined;
}

/** Reads MSA from an ACK. Throws Hl7HeaderError when MSH/MSA is missing or MSA-1 is not an HL7 table 0008 code. */
export function readAck(text: string): AckSegment {
  const header = readMessageHeader(text);
  const msa = segments(text).find((s) => s.startsWith(`MSA${header.fieldSeparator}`));
  if (msa === undefined) {
    throw new Hl7HeaderError('acknowledgement has no MSA segment');
  }
  const parts = msa.split(header.fieldSeparator);
  const code = (parts[1] ?? '').trim();
  if (!(ACK_CODES as readonly string[]).includes(code)) {
    throw new Hl7HeaderError(`MSA-1 is not an acknowledgment code: ${JSON.stringify(code.slice(0, 8))}`);
  }
  const controlId = (parts[2] ?? '').split(header.componentSeparator)[0] ?? '';
  const ackText = parts[3];
  // MSA-3 is ST: a PAS escapes delimiters (and may send \Xhh\) in it, as we do (HL7 v2.4 §2.7).
  return { code: code as AckCode, controlId, text: ackText === undefined || ackText === '' ? undefined : unescapeHl7(ackText) };
}

/**
 * Returns the message with MSH-10 replaced (used when ops replay a dead letter under a new Message Control ID).
 * Only the first segment is touched; everything else is byte-for-byte the same.
 */
export function withControlId(text: string, controlId: string): string {
  const header = readMessageHeader(text);
  const end = text.search(/\r|\n/);
  const msh = end === -1 ? text : text.slice(0, end);
  const parts = msh.split(header.fieldSeparator);
  while (parts.length < 10) {
    parts.push('');
  }
  parts[9] = controlId; // MSH-10 is piece 9 because MSH-1 is the separator itself
  return parts.join(header.fieldSeparator) + (end === -1 ? '' : text.slice(end));
}
