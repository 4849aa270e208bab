/*
 * The named context variables rule expressions read (%bundle, %header, %patient, %serviceRequest, …) and the Bundle-aware
 * `resolve()` they use. fhirpath.js's own resolve() fetches from a FHIR server and does not look at Bundle.entry.fullUrl,
 * so inside a message Bundle it finds nothing (anchors §5.5); ours follows `urn:uuid:` fullUrls, relative `Type/id`
 * references and absolute URLs ending in `Type/id`, all within the one Bundle, synchronously.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { Bundle, Resource, StoredMessage } from '../protocol/bars/types.js';

/** The identifier system of the reference the receiver puts on its planned Encounter (BaRS: "our" case reference). */
export const RECEIVER_REFERENCE_SYSTEM = 'https://bars-bridge.local/Id/reference';

/** Key under which the per-message Bundle index travels in the FHIRPath environment (a Symbol: no rule can name it). */
const INDEX = Symbol('bars-bridge.bundle-index');

/**
 * Key under which the per-message table of expression results travels in the environment (see evaluate.ts `run`):
 * the mappings of one message share their environment, and most of their expressions (the shared includes).
 */
const RESULTS = Symbol('bars-bridge.expression-results');

/** Results of memoisable expressions for one message: source → focus → entries keyed by the variables it reads. */
export type ResultTable = Map<string, Map<unknown, Array<{ readonly vars: readonly unknown[]; readonly result: unknown[] }>>>;

/** fhirpath.js does not export its ResourceNode class; take it from a node it made, so resolved resources are typed. */
interface ResourceNodeClass {
  makeResNode(ctx: unknown, data: unknown, parent: null, path: null, data2: null, type: null): unknown;
}
const ResourceNode = (
  fhirpath.evaluate({}, '%r', { r: { resourceType: 'Basic' } }, r4, { resolveInternalTypes: false })[0] as {
    constructor: ResourceNodeClass;
  }
).constructor;

/** Lookup of every entry of a Bundle by fullUrl and by `Type/id`. */
export class BundleIndex {
  private readonly byUrl = new Map<string, Resource>();

  constructor(readonly bundle: Bundle) {
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource;
      if (!r) {continue;}
      if (entry.fullUrl) {
        this.byUrl.set(entry.fullUrl, r);
        const tail = /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(entry.fullUrl);
        if (tail && !entry.fullUrl.startsWith('urn:')) {this.byUrl.set(tail[1], r);}
      }
      if (r.id) {this.byUrl.set(`${r.resourceType}/${r.id}`, r);}
    }
  }

  /** The resource a reference string points at inside this Bundle, if any. */
  resolve(reference: string): Resource | undefined {
    const direct = this.byUrl.get(reference);
    if (direct) {return direct;}
    const tail = /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
    return tail ? this.byUrl.get(tail[1]) : undefined;
  }

  /** Every resource of a type, in entry order. */
  ofType(type: string): Resource[] {
    return (this.bundle.entry ?? []).flatMap((e) => (e.resource?.resourceType === type ? [e.resource] : []));
  }
}

function referenceOf(value: unknown): string | undefined {
  if (typeof value === 'string') {return value;}
  if (value && typeof value === 'object' && typeof (value as { reference?: unknown }).reference === 'string') {
    return (value as { reference: string }).reference;
  }
  return undefined;
}

/**
 * The user functions every rule is compiled with. `resolve()` replaces fhirpath.js's own (see file header); it is
 * given ResourceNodes (`internalStructures`) and returns typed ResourceNodes so `ofType()` and choice types work after it.
 */
export const USER_FUNCTIONS = {
  resolve: {
    internalStructures: true,
    arity: { 0: [] },
    fn: function (this: { vars: Record<symbol, BundleIndex | undefined> }, inputs: unknown[]): unknown[] {
      const index = this.vars[INDEX];
      if (!index) {return [];}
      const out: unknown[] = [];
      for (const node of inputs) {
        const data = node && typeof node === 'object' && 'data' in node ? (node as { data: unknown }).data : node;
        const ref = referenceOf(data);
        const target = ref === undefined ? undefined : index.resolve(ref);
        if (target) {out.push(ResourceNode.makeResNode(this, target, null, null, null, null));}
      }
      return out;
    },
  },
} as const;

/** The names of the built-in context variables, for load-time checks of `%name` in rules. */
export const CONTEXT_VARIABLES = [
  'bundle',
  'header',
  'patient',
  'serviceRequest',
  'appointment',
  'encounter',
  'receiverEncounter',
  'carePlan',
  'message',
  'reference',
  'now',
  'controlId',
] as const;

/** FHIRPath environment for one message: the variables above plus the hidden Bundle index. */
export type Environment = Record<string, unknown> & { [INDEX]?: BundleIndex; [RESULTS]?: ResultTable };

/** The expression results table of the message whose environment this is (undefined for a probe environment). */
export function resultsOf(env: Environment): ResultTable | undefined {
  return env[RESULTS];
}

function firstResolved(index: BundleIndex, refs: unknown, type: string): Resource | undefined {
  for (const r of Array.isArray(refs) ? refs : [refs]) {
    const ref = referenceOf(r);
    const res = ref === undefined ? undefined : index.resolve(ref);
    if (res?.resourceType === type) {return res;}
  }
  return undefined;
}

/** Empty collection for an absent variable: `%appointment.start` on a referral is then empty, not an error. */
const none = (r: Resource | undefined): unknown => r ?? [];

/**
 * Builds the environment for `msg`: finds the records the rules name (the MessageHeader focus first, then the first
 * of the type), our planned Encounter (by `msg.encounterId`, else by our reference identifier), and the sender's
 * Encounter (the ServiceRequest's `encounter`, else the first Encounter that is not ours).
 */
export function buildEnvironment(msg: StoredMessage, extras: { now: Date; controlId: string }): Environment {
  const bundle = msg.bundle;
  const index = new BundleIndex(bundle);
  const header = index.ofType('MessageHeader')[0];
  const focus = (header?.focus as unknown[] | undefined) ?? [];
  const serviceRequest = firstResolved(index, focus, 'ServiceRequest') ?? index.ofType('ServiceRequest')[0];
  const appointment = firstResolved(index, focus, 'Appointment') ?? index.ofType('Appointment')[0];

  const encounters = index.ofType('Encounter');
  const isOurs = (e: Resource): boolean =>
    (msg.encounterId !== undefined && e.id === msg.encounterId) ||
    ((e.identifier as Array<{ system?: string }> | undefined) ?? []).some((i) => i.system === RECEIVER_REFERENCE_SYSTEM);
  const receiverEncounter = encounters.find(isOurs);
  const encounter =
    (serviceRequest && firstResolved(index, serviceRequest.encounter, 'Encounter')) ??
    encounters.find((e) => e !== receiverEncounter && e.status !== 'planned');

  const patient =
    (serviceRequest && firstResolved(index, serviceRequest.subject, 'Patient')) ??
    (appointment &&
      firstResolved(
        index,
        ((appointment.participant as Array<{ actor?: unknown }> | undefined) ?? []).map((p) => p.actor),
        'Patient',
      )) ??
    index.ofType('Patient')[0];
  const carePlan =
    (serviceRequest && firstResolved(index, serviceRequest.basedOn, 'CarePlan')) ?? index.ofType('CarePlan')[0];

  const ourReference =
    msg.reference ??
    ((receiverEncounter?.identifier as Array<{ system?: string; value?: string }> | undefined) ?? []).find(
      (i) => i.system === RECEIVER_REFERENCE_SYSTEM,
    )?.value;

  const { bundle: _omit, ...meta } = msg;
  void _omit;
  const env: Environment = {
    bundle,
    header: none(header),
    patient: none(patient),
    serviceRequest: none(serviceRequest),
    appointment: none(appointment),
    encounter: none(encounter),
    receiverEncounter: none(receiverEncounter),
    carePlan: none(carePlan),
    message: meta,
    reference: ourReference ?? [],
    now: extras.now.toISOString(),
    controlId: extras.controlId,
  };
  env[INDEX] = index;
  env[RESULTS] = new Map();
  return env;
}

/** An environment with every variable present and empty, for probing expressions at load time. */
export function probeEnvironment(extraNames: Iterable<string>): Environment {
  const env: Environment = {};
  for (const n of CONTEXT_VARIABLES) {env[n] = [];}
  for (const n of extraNames) {env[n] = [];}
  env.bundle = { resourceType: 'Bundle' };
  return env;
}
