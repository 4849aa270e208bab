/*
 * The stateless checks of `$process-message`, in the order of BaRS Core 1.5.0 Processing-Requests (spec §6):
 * envelope → Bundle.meta.versionId → FHIR types of every element (fhir-types.ts) → destination is us → workflow variables → use case → definition and resource
 * cardinalities → content rules. Stateful checks (Bundle.id reuse, current records, conflicts, slots) follow in
 * process-message.ts against the store. Each failure names the element at fault.
 */
import { BundleIndex } from './bundle.js';
import { SYSTEMS, codingsIn, sameSystem, splitToken, USE_CASE_CODES, EVENT_CODES, REASON_CODES, type EventCode, type ReasonCode } from './codes.js';
import { definitionByUrl, definitionCoversUseCase, definitionForWorkflow, type DefinitionInfo } from './definitions.js';
import type { BarsError} from './errors.js';
import { badRequest, unprocessable } from './errors.js';
import { checkContentRules } from './content-rules.js';
import { checkResource } from './fhir-types.js';
import type { Bundle, Resource, Workflow } from './types.js';

export interface ValidationContext {
  readonly serviceIds: readonly string[];
  readonly odsCode: string;
  readonly checkReceiverOds: boolean;
  readonly bundleMajors: readonly number[];
  readonly useCases: readonly string[];
}

export interface ValidatedMessage {
  readonly bundle: Bundle;
  readonly index: BundleIndex;
  readonly header: Resource;
  readonly event: EventCode;
  readonly reason: ReasonCode;
  readonly workflow: Workflow;
  readonly definition: DefinitionInfo;
  readonly useCase: string | undefined;
  /** The root record: ServiceRequest (referrals, validations, responses) or Appointment (bookings). */
  readonly root: Resource;
  readonly patient: Resource | undefined;
  readonly sourceEndpoint: string | undefined;
  readonly destinationEndpoint: string;
  /** Every `reference` string in the Bundle. */
  readonly references: ReadonlySet<string>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Envelope: "Non conformant payloads should be rejected in their entirety" (BaRS principles). */
function checkEnvelope(body: unknown, ctx: ValidationContext): { bundle: Bundle; index: BundleIndex; header: Resource; references: Set<string> } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('structure', 'The request body must be a FHIR Bundle');
  }
  const bundle = body as Bundle;
  if (bundle.resourceType !== 'Bundle') {
    throw badRequest('structure', 'The request body must be a FHIR Bundle', 'Bundle');
  }
  if (bundle.type !== 'message') {
    throw badRequest('value', 'Bundle.type must be message', 'Bundle.type');
  }
  if (typeof bundle.id !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(bundle.id)) {
    throw badRequest('required', 'Bundle.id must be present and a valid FHIR id', 'Bundle.id');
  }
  const version = bundle.meta?.versionId;
  if (typeof version !== 'string' || version.trim() === '') {
    // Standard-Pattern-For-Composites pseudo-code: versionId null → 400 invariant.
    throw badRequest('invariant', 'Bundle.meta.versionId must carry the version of the Application the bundle complies with', 'Bundle.meta.versionId');
  }
  const major = Number.parseInt(version, 10);
  if (!ctx.bundleMajors.includes(major)) {
    throw unprocessable('not-supported', `Bundle.meta.versionId ${version} is not a version this receiver supports`, 'Bundle.meta.versionId');
  }
  if (!Array.isArray(bundle.entry) || bundle.entry.length === 0) {
    throw badRequest('required', 'Bundle.entry must hold the message resources', 'Bundle.entry');
  }
  bundle.entry.forEach((entry, i) => {
    if (!entry || typeof entry !== 'object' || !entry.resource || typeof entry.resource !== 'object' || typeof entry.resource.resourceType !== 'string') {
      throw badRequest('structure', `Bundle.entry[${i}] must hold a resource`, `Bundle.entry[${i}].resource`);
    }
  });
  // Every element typed before any is read (fhir-types.ts); the references are collected on the way.
  const references = checkResource(bundle, 'Bundle');
  const header = bundle.entry[0]!.resource!;
  if (header.resourceType !== 'MessageHeader') {
    throw badRequest('invariant', 'The first entry of a message Bundle must be its MessageHeader (bdl-12)', 'Bundle.entry[0]');
  }
  if (bundle.entry.filter((e) => e.resource?.resourceType === 'MessageHeader').length > 1) {
    throw badRequest('invariant', 'A message Bundle holds exactly one MessageHeader', 'Bundle.entry');
  }
  const fullUrls = new Set<string>();
  for (const [i, entry] of bundle.entry.entries()) {
    if (typeof entry.fullUrl === 'string') {
      if (fullUrls.has(entry.fullUrl)) {
        throw badRequest('invariant', `Bundle.entry[${i}].fullUrl is not unique in the Bundle`, `Bundle.entry[${i}].fullUrl`);
      }
      fullUrls.add(entry.fullUrl);
    }
  }
  return { bundle, index: new BundleIndex(bundle), header, references };
}

/** MessageHeader destination checks (Message-Headers page, receiver checks 1 and 2). */
function checkDestination(header: Resource, index: BundleIndex, ctx: ValidationContext): string {
  const destinations = Array.isArray(header.destination) ? (header.destination as Record<string, unknown>[]) : [];
  if (destinations.length === 0) {
    throw badRequest('required', 'MessageHeader.destination is required', 'MessageHeader.destination');
  }
  const ours = destinations.find((d) => {
    const endpoint = str(d?.endpoint);
    if (!endpoint) {
      return false;
    }
    const { system, value } = splitToken(endpoint);
    return (system === undefined || sameSystem(system, SYSTEMS.dosServiceId)) && ctx.serviceIds.includes(value);
  });
  if (!ours) {
    throw badRequest('value', 'MessageHeader.destination.endpoint does not name a service of this receiver', 'MessageHeader.destination.endpoint');
  }
  if (ctx.checkReceiverOds) {
    const receiver = index.resolve(ours.receiver);
    const ods = codesOf(receiver?.identifier, SYSTEMS.odsOrganizationCode);
    if (!receiver || receiver.resourceType !== 'Organization' || !ods.includes(ctx.odsCode.toUpperCase())) {
      throw badRequest('value', 'MessageHeader.destination.receiver must be this receiver\'s Organization', 'MessageHeader.destination.receiver');
    }
  }
  return str(ours.endpoint)!;
}

function codesOf(identifiers: unknown, system: string): string[] {
  return (Array.isArray(identifiers) ? identifiers : [])
    .filter((i: { system?: string }) => sameSystem(i?.system, system))
    .map((i: { value?: string }) => String(i.value ?? '').toUpperCase());
}

function singleCode(header: Resource, element: 'eventCoding' | 'reason'): string | undefined {
  if (element === 'eventCoding') {
    const coding = header.eventCoding as { system?: string; code?: string } | undefined;
    return coding && sameSystem(coding.system, SYSTEMS.messageEvents) ? coding.code : undefined;
  }
  return codingsIn(header.reason, SYSTEMS.messageReason)[0]?.code;
}

/** The focus resource of the message, else the first resource of the expected type. */
function focusOf(header: Resource, index: BundleIndex, type: string): Resource | undefined {
  const focus = Array.isArray(header.focus) ? header.focus : [];
  for (const ref of focus) {
    const resource = index.resolve(ref);
    if (resource?.resourceType === type) {
      return resource;
    }
  }
  return index.first(type);
}

function categoryType(sr: Resource): string | undefined {
  return codingsIn(sr.category, SYSTEMS.serviceRequestCategory)[0]?.code?.toLowerCase();
}

/** The refusal names the workflow variable that does not fit the others (the status), so a sender sees what to fix. */
const unknownWorkflow = (why: string, element = 'MessageHeader'): BarsError => badRequest('invariant', `Unknown workflow: ${why}`, element);

/** booking-request: the one Appointment's status (and the reason) decide new, update or cancel. */
function bookingWorkflow(header: Resource, index: BundleIndex, reason: ReasonCode): { workflow: Workflow; root: Resource } {
  const appointments = index.all('Appointment');
  if (appointments.length !== 1) {
    throw badRequest('invariant', 'A booking message carries exactly one Appointment', 'Appointment');
  }
  const appointment = focusOf(header, index, 'Appointment')!;
  const status = str(appointment.status);
  if (status === 'cancelled' || status === 'entered-in-error') {
    // BaRS says reason 'update' for a cancellation; NHS England's own BOOKREQ02 example sends 'new' (spec §13.2).
    return { workflow: 'booking-cancel', root: appointment };
  }
  if (status === 'booked') {
    return { workflow: reason === 'new' ? 'booking-new' : 'booking-update', root: appointment };
  }
  throw unknownWorkflow(`booking-request with Appointment.status ${status ?? '(none)'}`, 'Appointment.status');
}

/** A new referral or validation request: the statuses of ServiceRequest, CarePlan and sender Encounter must fit. */
function newRequestWorkflow(sr: Resource, index: BundleIndex, category: 'referral' | 'validation'): { workflow: Workflow; root: Resource } {
  const status = str(sr.status);
  const carePlan = index.resolve(Array.isArray(sr.basedOn) ? sr.basedOn[0] : undefined) ?? index.first('CarePlan');
  const senderEncounter = index.resolve(sr.encounter) ?? index.first('Encounter');
  const carePlanStatus = str(carePlan?.status);
  const encounterStatus = str(senderEncounter?.status);
  if (status !== 'active') {
    throw unknownWorkflow(`a new ${category} needs ServiceRequest.status active, not ${status ?? '(none)'}`, 'ServiceRequest.status');
  }
  if (category === 'referral') {
    // The CAD exemption below depends on the use case, so a missing or unknown use case is refused as such first
    // (TKW *_NoUseCaseCategory 400 required / *_InvalidUseCaseCategory 400 value), not as a CarePlan.status.
    checkUseCase(sr);
    // CAD to CAD (APP6) refers while the incident is still open: its CarePlan is active (REFREQ04, REFREQ8x).
    const cad = useCaseOf(sr).code?.startsWith('a6') ?? false;
    if (carePlan && carePlanStatus !== 'completed' && !(cad && carePlanStatus === 'active')) {
      throw badRequest('invariant', 'A new referral needs CarePlan.status completed', 'CarePlan.status');
    }
    // Pseudo-code: triaged or finished; CAD to CAD (APP6) refers while the call is still in progress.
    if (!['triaged', 'finished', 'in-progress'].includes(encounterStatus ?? '')) {
      throw badRequest('invariant', 'A new referral needs the sender Encounter.status triaged or finished', 'Encounter.status');
    }
    return { workflow: 'referral-new', root: sr };
  }
  if (carePlanStatus !== 'active') {
    throw badRequest('invariant', 'A new validation request needs CarePlan.status active', 'CarePlan.status');
  }
  if (!['triaged', 'in-progress'].includes(encounterStatus ?? '')) {
    throw badRequest('invariant', 'A new validation request needs the sender Encounter.status triaged or in-progress', 'Encounter.status');
  }
  return { workflow: 'validation-new', root: sr };
}

/** servicerequest-response: a referral response (status update, DNA) is taken; a validation response never is. */
function responseWorkflow(header: Resource, index: BundleIndex, sr: Resource, category: 'referral' | 'validation'): { workflow: Workflow; root: Resource } {
  const status = str(sr.status);
  const response = header.response as { identifier?: unknown } | undefined;
  if (!response || typeof response.identifier !== 'string') {
    throw badRequest('invariant', 'A response message must carry MessageHeader.response.identifier', 'MessageHeader.response');
  }
  // The responder's Encounter is the focus (Message-Headers page); NHS England's APP6 examples REFRESP02/03 focus the
  // ServiceRequest instead, so the Encounter that is not the request's own (ServiceRequest.encounter) stands in.
  const requestEncounter = index.resolve(sr.encounter);
  const focusEncounter =
    (Array.isArray(header.focus) ? header.focus : []).map((f) => index.resolve(f)).find((f) => f?.resourceType === 'Encounter') ??
    index.all('Encounter').find((e) => e !== requestEncounter);
  if (category === 'referral') {
    if (status === 'revoked') {
      return { workflow: 'response-dna', root: sr };
    }
    if (focusEncounter) {
      return { workflow: 'response-referral', root: sr };
    }
    throw unknownWorkflow(`referral response with ServiceRequest.status ${status ?? '(none)'}`);
  }
  // Validation responses answer a validation request the recipient sent. This receiver sends none (it takes requests
  // and sends only their responses), so every validation response it gets is unsolicited: a workflow it does not take
  // → 400 invariant (Bundle-Processing: "non-standard or unknown workflow"; TKW UnsolicitedValidationResponse_* expect
  // 400 OperationOutcome, while unsolicited referral responses — status updates, DNA — are accepted, as TKW
  // UnsolicitedReferralResponse_* expect).
  throw badRequest('invariant', 'Unsolicited validation response: this receiver sends no validation requests, so MessageHeader.response.identifier answers no request of ours', 'MessageHeader.response.identifier');
}

/**
 * Workflow variables (eventCoding × reason × status × category) → one workflow, else 400 invariant: "A combination of
 * workflow variables has lead to a non-standard or unknown workflow" (Bundle-Processing failure table).
 */
function resolveWorkflow(header: Resource, index: BundleIndex, event: EventCode, reason: ReasonCode): { workflow: Workflow; root: Resource } {
  if (event === 'booking-response') {
    throw badRequest('invariant', 'booking-response messages are not supported by the standard for a receiver', 'MessageHeader.eventCoding');
  }
  if (event === 'booking-request') {
    return bookingWorkflow(header, index, reason);
  }
  const sr = focusOf(header, index, 'ServiceRequest');
  if (!sr) {
    throw badRequest('required', 'The message must carry the ServiceRequest it is about', 'ServiceRequest');
  }
  const category = categoryType(sr);
  if (category !== 'referral' && category !== 'validation') {
    throw badRequest('invariant', 'ServiceRequest.category must carry a message-category-servicerequest code of referral or validation', 'ServiceRequest.category');
  }
  if (event === 'servicerequest-response') {
    return responseWorkflow(header, index, sr, category);
  }
  if (reason === 'new') {
    return newRequestWorkflow(sr, index, category);
  }
  // reason update or delete: the Cancellation page's table says 'delete', its text says 'update' (spec §13.2).
  const status = str(sr.status);
  if (status === 'revoked' || status === 'entered-in-error') {
    return { workflow: category === 'referral' ? 'referral-cancel' : 'validation-cancel', root: sr };
  }
  if (reason === 'update' && (status === 'active' || status === 'on-hold')) {
    return { workflow: category === 'referral' ? 'referral-update' : 'validation-update', root: sr };
  }
  throw unknownWorkflow(`servicerequest-request ${reason} with ServiceRequest.status ${status ?? '(none)'}`, 'ServiceRequest.status');
}

function useCaseOf(root: Resource): { present: boolean; code: string | undefined } {
  const element = root.resourceType === 'Appointment' ? root.serviceCategory : root.category;
  const codings = codingsIn(element, SYSTEMS.useCases);
  return { present: codings.length > 0, code: codings[0]?.code?.toLowerCase() };
}

/** The root's usecases-categories-bars code: 400 required when absent, 400 value when not a code of the CodeSystem. */
function checkUseCase(root: Resource): { present: boolean; code: string } {
  const useCase = useCaseOf(root);
  if (!useCase.present) {
    throw badRequest('required', `${root.resourceType}.${root.resourceType === 'Appointment' ? 'serviceCategory' : 'category'} must carry a usecases-categories-bars code`, `${root.resourceType}.category`);
  }
  if (!useCase.code || !(USE_CASE_CODES as readonly string[]).includes(useCase.code)) {
    throw badRequest('value', 'The usecases-categories-bars code is not a code of that CodeSystem', `${root.resourceType}.category`);
  }
  return { present: true, code: useCase.code };
}

/** Checks the cardinalities of the MessageDefinition (max always, min for the resources the receiver needs). */
function checkCardinality(def: DefinitionInfo, index: BundleIndex): void {
  for (const rule of def.focus) {
    const count = index.all(rule.code).length;
    if (count < rule.min || (rule.max !== undefined && count > rule.max)) {
      const range = `${rule.min}..${rule.max ?? '*'}`;
      throw badRequest('invariant', `${def.name} allows ${range} ${rule.code} resources; the message has ${count}`, rule.code);
    }
  }
}

/**
 * Runs every stateless check.
 * @param body - parsed request body.
 * @param ctx - what this receiver serves.
 */
export function validateMessage(body: unknown, ctx: ValidationContext): ValidatedMessage {
  const { bundle, index, header, references } = checkEnvelope(body, ctx);
  const destinationEndpoint = checkDestination(header, index, ctx);

  const eventCode = singleCode(header, 'eventCoding');
  if (!eventCode || !(EVENT_CODES as readonly string[]).includes(eventCode)) {
    throw badRequest('invariant', 'MessageHeader.eventCoding must be a message-events-bars code', 'MessageHeader.eventCoding');
  }
  const reasonCode = singleCode(header, 'reason');
  if (!reasonCode || !(REASON_CODES as readonly string[]).includes(reasonCode)) {
    throw badRequest('invariant', 'MessageHeader.reason must be a message-reason-bars code', 'MessageHeader.reason');
  }
  const event = eventCode as EventCode;
  const reason = reasonCode as ReasonCode;
  const { workflow, root } = resolveWorkflow(header, index, event, reason);

  const useCase = checkUseCase(root);
  // Content-Negotiation/Receiver-ProcessMessage: a use case this service does not support → 422 not-supported.
  if (!ctx.useCases.includes(useCase.code)) {
    throw unprocessable('not-supported', `Use case ${useCase.code} is not supported by this service`, `${root.resourceType}.category`);
  }

  const definition = definitionForWorkflow(workflow);
  const named = str(header.definition);
  if (named) {
    const declared = definitionByUrl(named);
    if (declared && declared.event !== definition.event) {
      throw badRequest('invariant', `MessageHeader.definition names ${declared.name}, which does not describe a ${workflow} message`, 'MessageHeader.definition');
    }
  }
  if (!definitionCoversUseCase(definition, useCase.code)) {
    throw unprocessable('not-supported', `Use case ${useCase.code} does not take ${definition.name} messages`, 'MessageHeader.definition');
  }
  checkCardinality(definition, index);

  const patient = index.resolve(root.resourceType === 'Appointment' ? participantPatient(root) : root.subject) ?? index.first('Patient');
  checkContentRules({ workflow, index, root, patient });

  return {
    bundle,
    index,
    header,
    event,
    reason,
    workflow,
    definition,
    useCase: useCase.code,
    root,
    patient,
    sourceEndpoint: str((header.source as { endpoint?: unknown } | undefined)?.endpoint),
    destinationEndpoint,
    references,
  };
}

function participantPatient(appointment: Resource): unknown {
  const participants = Array.isArray(appointment.participant) ? appointment.participant : [];
  for (const p of participants as Array<{ actor?: { reference?: string } }>) {
    if (p?.actor?.reference) {
      return p.actor;
    }
  }
  return undefined;
}
