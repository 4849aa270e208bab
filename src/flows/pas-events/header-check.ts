/*
 * What the PAS events listener checks in MSH before it stores anything, and the answer when a check fails, in
 * HL7 v2 original acknowledgment mode (chapter 2 "Message processing rules", §2.9; v2.5 §2.9.2 "Response: original
 * processing rules"):
 *  - the receiver first validates MSH-9 Message Type, MSH-11 Processing ID and MSH-12 Version ID; "if any of these
 *    edits fail, the protocol software rejects the message": MSA-1 `AR`;
 *  - an error in the content of an otherwise acceptable message is an application error: MSA-1 `AE`.
 * The sender is checked first, against the configured `SendingApplication^SendingFacility` pairs: MSH-3 and MSH-4 are
 * HD fields whose namespace ids come from user-defined tables 0361/0362, so an unknown sender is "table value not
 * found" (HL7 table 0357 code 103) and is rejected (`AR`) before anything else about it is looked at.
 *
 * Pure: no Redis, no config. Every value it returns for keys, logs or an ACK is bounded in length.
 */
import type { AckCode, MessageHeader } from '../../protocol/hl7/header.js';

/** HL7 table 0357 Message Error Condition Codes used here. */
export type Hl7ErrorCode = 101 | 102 | 103 | 200 | 201 | 202 | 203;

/** Why a message was not accepted: the ACK's MSA-1, its ERR, and a fixed reason for metrics and logs. */
export interface HeaderRejection {
  readonly ok: false;
  readonly code: Extract<AckCode, 'AR' | 'AE'>;
  /** Stable, low-cardinality label (metrics, logs). */
  readonly reason:
    | 'sender-not-allowed'
    | 'unsupported-message-type'
    | 'unsupported-event'
    | 'unsupported-processing-id'
    | 'unsupported-version'
    | 'missing-control-id'
    | 'field-too-long';
  /** ERR location: the MSH field in error (undefined: the segment as a whole). */
  readonly field: number | undefined;
  readonly hl7Error: Hl7ErrorCode;
  /** MSA-3 / ERR text: says what is wrong without echoing the value. */
  readonly text: string;
}

export type HeaderCheck = { readonly ok: true; readonly sender: string } | HeaderRejection;

/** HL7 v2.7+ length of MSH-10 (ST 199; v2.4 said 20, which many PAS exceed). Longer is refused, never stored. */
export const MAX_CONTROL_ID = 199;
/**
 * Longest MSH segment accepted. Every MSH field of every v2 release has a documented maximum (v2.5: HD 227, MSG 15,
 * MSH-10 20 …) and together they stay far below this; a longer MSH carries something we must not store or log.
 */
export const MAX_MSH_LENGTH = 4096;
/** HD namespace id length (v2.5 IS 20; generous, as PAS names vary): longer is not a sender we know. */
const MAX_NAMESPACE = 227;
/** Length at which a value we did not accept is cut before it is echoed in an ACK or written to a log. */
export const ECHO_CAP = 64;

/** Message codes (HL7 table 0076) a PAS sends about our records, and their trigger events (table 0003). */
const EVENTS: Readonly<Record<string, RegExp>> = {
  ADT: /^A(0[1-9]|[1-5]\d|6[0-2])$/, // chapter 3 Patient Administration, A01–A62
  SIU: /^S(1[2-9]|2[0-6])$/, // chapter 10 Scheduling, S12–S26
  REF: /^I1[2-5]$/, // chapter 11 Patient Referral, I12–I15
};

/** HL7 table 0104 Version ID: the v2 releases whose MSH layout we read. */
const VERSIONS = new Set(['2.1', '2.2', '2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8', '2.8.1', '2.8.2', '2.9', '2.9.1']);
/** HL7 table 0103 Processing ID. */
const PROCESSING_IDS = new Set(['P', 'T', 'D']);

/** Cuts a value to `max` characters (for echoing or logging a value we did not accept). */
export function cap(value: string, max = ECHO_CAP): string {
  return value.length > max ? value.slice(0, max) : value;
}

const first = (value: string, componentSeparator: string): string => value.split(componentSeparator, 1)[0] ?? '';

/** `SendingApplication^SendingFacility`: the first components of MSH-3 and MSH-4 (the HD namespace ids). */
export function senderOf(header: MessageHeader): string {
  const c = header.componentSeparator;
  return `${first(header.sendingApplication, c)}^${first(header.sendingFacility, c)}`;
}

const reject = (
  code: 'AR' | 'AE',
  reason: HeaderRejection['reason'],
  field: number | undefined,
  hl7Error: Hl7ErrorCode,
  text: string,
): HeaderRejection => ({ ok: false, code, reason, field, hl7Error, text });

/**
 * Checks the MSH of a PAS event.
 * @param header - MSH as read from the message.
 * @param allowed - accepted `SendingApplication^SendingFacility` pairs.
 * @param mshLength - length of the MSH segment in characters.
 * @returns the sender when the message may be stored, or the rejection to answer.
 */
export function checkPasEventHeader(header: MessageHeader, allowed: ReadonlySet<string>, mshLength: number): HeaderCheck {
  const c = header.componentSeparator;
  const app = first(header.sendingApplication, c);
  const facility = first(header.sendingFacility, c);
  if (app.length > MAX_NAMESPACE || facility.length > MAX_NAMESPACE || !allowed.has(`${app}^${facility}`)) {
    return reject('AR', 'sender-not-allowed', 3, 103, 'Sending application/facility (MSH-3/MSH-4) is not accepted here');
  }
  if (mshLength > MAX_MSH_LENGTH) {
    return reject('AE', 'field-too-long', undefined, 102, `MSH segment longer than ${MAX_MSH_LENGTH} characters`);
  }
  const [code = '', trigger = ''] = header.messageType.split(c);
  const events = EVENTS[code];
  if (!events) {
    return reject('AR', 'unsupported-message-type', 9, 200, 'Unsupported message type (MSH-9.1)');
  }
  if (!events.test(trigger)) {
    return reject('AR', 'unsupported-event', 9, 201, 'Unsupported trigger event (MSH-9.2)');
  }
  if (!PROCESSING_IDS.has(first(header.processingId, c))) {
    return reject('AR', 'unsupported-processing-id', 11, 202, 'Unsupported processing id (MSH-11)');
  }
  if (!VERSIONS.has(first(header.versionId, c))) {
    return reject('AR', 'unsupported-version', 12, 203, 'Unsupported version id (MSH-12)');
  }
  const controlId = header.controlId;
  if (controlId.trim() === '') {
    return reject('AE', 'missing-control-id', 10, 101, 'Required field missing: message control id (MSH-10)');
  }
   
  if (controlId.length > MAX_CONTROL_ID || /[\u0000-\u001f\u007f]/.test(controlId)) {
    return reject('AE', 'field-too-long', 10, 102, `Message control id (MSH-10) longer than ${MAX_CONTROL_ID} characters or not text`);
  }
  return { ok: true, sender: `${app}^${facility}` };
}

/**
 * The MSH fields an ACK echoes, cut to a bounded length: a refused message's fields are untrusted and may be huge.
 * MSH-10 keeps up to MAX_CONTROL_ID characters so MSA-2 still pairs with any control id we would accept.
 */
export function boundedHeader(header: MessageHeader): MessageHeader {
  return {
    fieldSeparator: header.fieldSeparator,
    componentSeparator: header.componentSeparator,
    encodingCharacters: cap(header.encodingCharacters, 5),
    sendingApplication: cap(header.sendingApplication),
    sendingFacility: cap(header.sendingFacility),
    receivingApplication: cap(header.receivingApplication),
    receivingFacility: cap(header.receivingFacility),
    messageType: cap(header.messageType, 16),
    controlId: cap(header.controlId, MAX_CONTROL_ID),
    processingId: cap(header.processingId, 3),
    versionId: VERSIONS.has(first(header.versionId, header.componentSeparator)) ? cap(header.versionId, 16) : '2.4',
  };
}
