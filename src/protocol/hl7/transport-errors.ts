/*
 * Why a delivery attempt did not end with an acknowledgement. The lane records `kind` in the message's history and
 * decides retry / dead letter from it, so each failure mode has one class and one stable kind string.
 *
 * Ambiguity matters in HL7 v2 original-mode acknowledgement: after an ACK timeout or a connection lost mid-wait, the
 * PAS may already have applied the message. The resend therefore carries the SAME MSH-10 (ARCHITECTURE.md
 * invariant 2) so that a PAS with duplicate detection on MSH-10 can discard it.
 */

/** Stable names for failure kinds, as written to delivery history. */
export type DeliveryFailureKind = 'connection' | 'ack-timeout' | 'ack-mismatch' | 'file-write' | 'content-missing';

/** Base class of every delivery failure. */
export abstract class DeliveryError extends Error {
  abstract readonly kind: DeliveryFailureKind;
  /** True when the destination may have received and applied the message despite the failure. */
  abstract readonly ambiguous: boolean;
}

/** Connect refused, connect timeout, reset, or the connection closed while an ACK was awaited. */
export class ConnectionError extends DeliveryError {
  readonly kind = 'connection';
  /** Whether the message had been written before the connection failed (then the PAS may have it). */
  readonly ambiguous: boolean;
  constructor(
    message: string,
    readonly code: string | undefined,
    options: { sent?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ConnectionError';
    this.ambiguous = options.sent ?? false;
  }
}

/** No acknowledgement within the ACK timeout. Ambiguous: resend with the same MSH-10. */
export class AckTimeoutError extends DeliveryError {
  readonly kind = 'ack-timeout';
  readonly ambiguous = true;
  constructor(
    readonly controlId: string,
    readonly timeoutMs: number,
  ) {
    super(`no ACK for MSH-10 ${controlId} within ${timeoutMs} ms`);
    this.name = 'AckTimeoutError';
  }
}

/**
 * The answer was not an acknowledgement of what we sent: MSA-2 differs from our MSH-10, or there was no readable
 * MSA. Never treated as success (Mirth `validateMessageControlId`); the connection is reset because the stream can
 * no longer be trusted to pair answers with messages.
 */
export class AckMismatchError extends DeliveryError {
  readonly kind = 'ack-mismatch';
  readonly ambiguous = true;
  constructor(
    readonly expectedControlId: string,
    readonly receivedControlId: string | undefined,
    detail: string,
  ) {
    super(`acknowledgement does not match MSH-10 ${expectedControlId}: ${detail}`);
    this.name = 'AckMismatchError';
  }
}

/** A file drop failed (directory missing, disk full, permissions). */
export class FileWriteError extends DeliveryError {
  readonly kind = 'file-write';
  readonly ambiguous = false;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'FileWriteError';
  }
}
