/*
 * Shapes shared by the receiver, the store, the mappings and the responses. FHIR resources are handled as plain JSON
 * (they arrive as JSON and are stored as JSON); only the elements the receiver reads are typed.
 */

/** A FHIR resource as JSON. */
export interface Resource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string; profile?: string[] };
  [element: string]: unknown;
}

export interface BundleEntry {
  fullUrl?: string;
  resource?: Resource;
  [element: string]: unknown;
}

export interface Bundle extends Resource {
  resourceType: 'Bundle';
  type?: string;
  timestamp?: string;
  entry?: BundleEntry[];
}

/**
 * The workflows the standard defines for a receiver (BaRS Core 1.5.0 Processing-Requests pseudo-code, spec §6 step 3).
 * Every accepted `$process-message` resolves to exactly one of these.
 */
export const WORKFLOWS = [
  'referral-new',
  'referral-update',
  'referral-cancel',
  'validation-new',
  'validation-update',
  'validation-cancel',
  'booking-new',
  'booking-update',
  'booking-cancel',
  'response-dna',
  'response-validation-interim',
  'response-validation-final',
  'response-validation-rejected',
  'response-referral',
] as const;

export type Workflow = (typeof WORKFLOWS)[number];

/**
 * One accepted message version as the store keeps it, and as the `inbound` processor, the mappings and trace read it.
 * `bundle` is the message with receiver-assigned ids: the same content the sender was given in the 200 body.
 */
export interface StoredMessage {
  /** Our id for this message version (UUID); the inbound job id is `msg-<id>`. */
  readonly id: string;
  readonly workflow: Workflow;
  /** Use-case code from usecases-categories-bars, lower case (e.g. `a1t1`). */
  readonly useCase: string | undefined;
  readonly requestId: string;
  readonly correlationId: string;
  /** Bundle.id as the sender gave it. */
  readonly bundleId: string;
  /** MessageHeader.source.endpoint, kept as the NHSD-Target-Identifier for async responses (spec §5.2 check 3). */
  readonly sourceEndpoint: string | undefined;
  /** MessageHeader.destination.endpoint: which of our DoS services it was sent to. */
  readonly destinationEndpoint: string | undefined;
  /** Receiver id of the root record (ServiceRequest for referrals/validations, Appointment for bookings). */
  readonly recordType: 'ServiceRequest' | 'Appointment';
  readonly recordId: string;
  /** Receiver id of our planned Encounter (referrals and validations). */
  readonly encounterId: string | undefined;
  /** Our human-readable reference, shown to the sender's user (BaRS: planned Encounter identifier). */
  readonly reference: string | undefined;
  readonly receivedAt: string;
  readonly bundle: Bundle;
}
