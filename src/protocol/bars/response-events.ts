/*
 * What the responses module talks about: the kinds of asynchronous BaRS response we send, and the events (from the
 * PAS, the clinician's system or our own delivery pipeline) that may trigger them. Events are validated with zod at
 * the boundary (enqueue) because they arrive from other processes.
 */
import { z } from 'zod';

/**
 * The asynchronous responses this receiver can send, one per MessageDefinition (spec §5.4, IG MessageDefinition/*.xml):
 * - `referral-dna`: APP1/APP2 safeguarding did-not-attend feedback (`bars-message-servicerequest-response-referral`, example REFRESP01);
 * - `referral-status`: APP6 CAD referral response on every Encounter status change (`…-response-referral-short`, REFRESP02/03);
 * - `validation-interim`: APP4 interim validation response, in-progress or rejected (`…-response-validation-interim`, VALRESP01A/04);
 * - `validation-full`: APP4 full validation response (`…-response-validation-full`, VALRESP01B).
 */
export const RESPONSE_KINDS = ['referral-dna', 'referral-status', 'validation-interim', 'validation-full'] as const;
export type ResponseKind = (typeof RESPONSE_KINDS)[number];

/** FHIR R4 Encounter.status (http://hl7.org/fhir/R4/valueset-encounter-status.html). */
export const ENCOUNTER_STATUSES = ['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled', 'entered-in-error', 'unknown'] as const;
export type EncounterStatus = (typeof ENCOUNTER_STATUSES)[number];

/** `https://fhir.nhs.uk/CodeSystem/rejected-reasons-bars` (IG CodeSystem/rejected-reasons-bars.xml). */
export const REJECTED_REASONS = { RRNA: 'Requested resource not available within timescale', FC: 'Failed Contact', OTH: 'Other' } as const;
export type RejectedReason = keyof typeof REJECTED_REASONS;
const rejectedReason = z.enum(['RRNA', 'FC', 'OTH']);

/** Free text that goes to the sender (Encounter.reasonCode.text, CarePlan outcome); bounded, never logged. */
const text = z.string().min(1).max(1000).optional();

export const responseEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('encounter-status-changed'),
    from: z.enum(ENCOUNTER_STATUSES),
    to: z.enum(ENCOUNTER_STATUSES),
    /** Required by the standard when `to` is a rejection (Encounter cancelled + reasonCode, APP4/APP6). */
    reasonCode: rejectedReason.optional(),
    reasonText: text,
  }),
  z.object({ type: z.literal('appointment-no-show'), appointmentId: z.string().min(1).optional() }),
  z.object({ type: z.literal('validation-picked-up') }),
  z.object({ type: z.literal('validation-rejected'), reasonCode: rejectedReason, reasonText: text }),
  z.object({
    type: z.literal('validation-completed'),
    /** CarePlan `completed` = no further action, `active` = action required (APP4 Payloads-for-Responders). */
    carePlanStatus: z.enum(['active', 'completed']),
    outcomeText: text,
  }),
  /** Our onward delivery (e.g. to the PAS) failed for good after the 200 acknowledgement. */
  z.object({ type: z.literal('delivery-failed'), reasonText: text }),
]);

const eventMeta = z.object({
  /** The producer's id for the event: enqueueing the same event again is then a no-op. */
  eventId: z.string().min(1).max(200).optional(),
  /** When it happened (FHIR instant); defaults to the time of building the response. */
  at: z.iso.datetime({ offset: true }).optional(),
});

/** An event with its optional id and time, as accepted by `enqueueResponse`. */
export const eventWithMetaSchema = z.intersection(responseEventSchema, eventMeta);

/** An event that may call for asynchronous responses. */
export type ResponseEvent = z.infer<typeof eventWithMetaSchema>;
export type ResponseEventType = ResponseEvent['type'];
