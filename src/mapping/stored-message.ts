/*
 * Builds a StoredMessage from a bare BaRS message Bundle the way the receiver would, for the `map` tool and for tests
 * and golden cases: infers the workflow from the workflow variables (BaRS Core Processing-Requests: eventCoding ×
 * reason × focus status × category), and adds our planned Encounter with our reference identifier to referrals and
 * validations. The real receiver builds its own; this one never runs in the inbound path.
 */
import type { Bundle, Resource, StoredMessage, Workflow } from '../protocol/bars/types.js';
import { RECEIVER_REFERENCE_SYSTEM } from './context.js';

const USE_CASE_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars';
const CATEGORY_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-category-servicerequest';

type Coding = { system?: string; code?: string };
type Concept = { coding?: Coding[] };

function focusOf(bundle: Bundle): { header: Resource | undefined; focus: Resource | undefined } {
  const entries = bundle.entry ?? [];
  const header = entries.find((e) => e.resource?.resourceType === 'MessageHeader')?.resource;
  const ref = (header?.focus as Array<{ reference?: string }> | undefined)?.[0]?.reference;
  const focus = entries.find((e) => e.fullUrl === ref)?.resource;
  return { header, focus };
}

/** The workflow a receiver would assign, or undefined for a combination it would refuse. */
export function inferWorkflow(bundle: Bundle): Workflow | undefined {
  const { header, focus } = focusOf(bundle);
  const event = (header?.eventCoding as Coding | undefined)?.code;
  const reason = (header?.reason as Concept | undefined)?.coding?.[0]?.code;
  if (!focus) {return undefined;}
  const status = focus.status as string | undefined;
  if (event === 'booking-request') {
    if (status === 'cancelled') {return 'booking-cancel';}
    return reason === 'update' ? 'booking-update' : 'booking-new';
  }
  if (event === 'servicerequest-request') {
    const cats = ((focus.category as Concept[] | undefined) ?? []).flatMap((c) => c.coding ?? []);
    const kind = cats.find((c) => c.system === CATEGORY_SYSTEM)?.code === 'validation' ? 'validation' : 'referral';
    if (status === 'revoked' || status === 'entered-in-error') {return `${kind}-cancel`;}
    return reason === 'update' ? `${kind}-update` : `${kind}-new`;
  }
  return undefined;
}

/** The use-case code (lower case) from ServiceRequest.category or Appointment.serviceCategory. */
export function inferUseCase(bundle: Bundle): string | undefined {
  const { focus } = focusOf(bundle);
  const concepts = ((focus?.category ?? focus?.serviceCategory) as Concept[] | undefined) ?? [];
  return concepts
    .flatMap((c) => c.coding ?? [])
    .find((c) => c.system === USE_CASE_SYSTEM)
    ?.code?.toLowerCase();
}

/** Options for storedMessageFromBundle; anything not given is derived or fixed (stable for golden files). */
export interface StoredMessageOptions {
  readonly workflow?: Workflow;
  readonly reference?: string;
  readonly id?: string;
  readonly receivedAt?: string;
}

/**
 * A StoredMessage for `bundle`. For new referrals/validations a planned Encounter with identifier
 * `{system: RECEIVER_REFERENCE_SYSTEM, value: reference}` is added (as the receiver does); for later messages
 * (update/cancel) `reference` is the one the receiver looked up from the first message.
 */
export function storedMessageFromBundle(bundle: Bundle, opts: StoredMessageOptions = {}): StoredMessage {
  const workflow = opts.workflow ?? inferWorkflow(bundle);
  if (!workflow) {throw new Error('cannot infer the BaRS workflow of this Bundle; pass one');}
  const { header, focus } = focusOf(bundle);
  const isBooking = workflow.startsWith('booking');
  // The receiver gives referrals and validations a reference (our planned Encounter); bookings have none.
  const reference = isBooking ? undefined : (opts.reference ?? 'BB-000001');
  const copy: Bundle = structuredClone(bundle);
  let encounterId: string | undefined;
  if (workflow === 'referral-new' || workflow === 'validation-new') {
    encounterId = '00000000-0000-4000-8000-00000000e001';
    const subject = (focus?.subject as { reference?: string } | undefined)?.reference;
    copy.entry = [
      ...(copy.entry ?? []),
      {
        fullUrl: `urn:uuid:${encounterId}`,
        resource: {
          resourceType: 'Encounter',
          id: encounterId,
          identifier: [{ system: RECEIVER_REFERENCE_SYSTEM, value: reference! }],
          status: 'planned',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
          ...(subject ? { subject: { reference: subject } } : {}),
          ...(focus ? { basedOn: [{ reference: (header?.focus as Array<{ reference: string }>)[0].reference }] } : {}),
        },
      },
    ];
  }
  const destination = (header?.destination as Array<{ endpoint?: string }> | undefined)?.[0]?.endpoint;
  const source = (header?.source as { endpoint?: string } | undefined)?.endpoint;
  return {
    id: opts.id ?? '00000000-0000-4000-8000-000000000001',
    workflow,
    useCase: inferUseCase(bundle),
    requestId: '00000000-0000-4000-8000-00000000a001',
    correlationId: '00000000-0000-4000-8000-00000000c001',
    bundleId: bundle.id ?? '',
    sourceEndpoint: source,
    destinationEndpoint: destination,
    recordType: isBooking ? 'Appointment' : 'ServiceRequest',
    recordId: focus?.id ?? (isBooking ? '00000000-0000-4000-8000-0000000000a1' : '00000000-0000-4000-8000-0000000000s1'),
    encounterId,
    reference,
    receivedAt: opts.receivedAt ?? '2024-03-01T09:30:00.000Z',
    bundle: copy,
  };
}
