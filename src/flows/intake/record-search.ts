/*
 * GET /ServiceRequest/{id}, /Appointment/{id} and their searches: the stored resources with their current status
 * (senders "must read before cancel/update"). Ids are GUIDs (else 400 value); unknown → 404 REC_NOT_FOUND.
 * Search: `patient:identifier` = https://fhir.nhs.uk/Id/nhs-number|<nhs no>, and since API 1.3.0 the demographic
 * parameters patient:name, patient:birthdate, patient:address-postalcode (for cancellation when the id is lost).
 */
import { randomUUID } from 'node:crypto';
import { SYSTEMS, sameSystem, splitToken } from '../../protocol/bars/codes.js';
import { badRequest, notFound } from '../../protocol/bars/errors.js';
import { isUuid } from '../../protocol/bars/headers.js';
import type { Resource } from '../../protocol/bars/types.js';
import type { MessageStore, RecordState } from '../../state/message-store.js';

export type RecordType = 'ServiceRequest' | 'Appointment';
type Query = Record<string, string | string[] | undefined>;

const one = (q: Query, name: string): string | undefined => {
  const v = q[name];
  if (Array.isArray(v)) {
    if (v.length > 1) {
      throw badRequest('value', `${name} may be given once`, name);
    }
    return v[0];
  }
  return v;
};

/** The resource as served: current content, our version number and last update. */
export function currentResource(record: RecordState): Resource {
  return {
    ...record.resource,
    id: record.id,
    meta: { ...(record.resource.meta ?? {}), versionId: String(record.version), lastUpdated: record.updatedAt },
  };
}

export async function readRecord(store: MessageStore, type: RecordType, id: string | undefined): Promise<Resource> {
  if (!id || id.trim() === '') {
    throw badRequest('required', `The ${type} id is required in the path`, `${type}.id`);
  }
  if (!isUuid(id)) {
    throw badRequest('value', `The ${type} id must be a GUID`, `${type}.id`);
  }
  const record = await store.getRecord(type, id.toLowerCase());
  if (!record) {
    throw notFound(`${type} ${id} was not found`);
  }
  return currentResource(record);
}

const SEARCH_PARAMS = ['patient:identifier', 'patient:name', 'patient:family', 'patient:birthdate', 'patient:address-postalcode', 'identifier', '_format'];

export async function searchRecords(store: MessageStore, type: RecordType, query: Query, baseUrl: string): Promise<Record<string, unknown>> {
  // Parameters this receiver does not support are ignored, as FHIR search says ("Servers SHALL ignore unknown
  // parameters" unless Prefer: handling=strict), so a search without a supported patient parameter is 400 `required`
  // (IG GET--ServiceRequest / GET--Appointment failure tables; TKW GetServiceRequestPatientParameterMissing sends
  // `?https://fhir.nhs.uk/Id/nhs-number|` with no parameter name and expects IssueCodeRequired).
  void SEARCH_PARAMS;
  const terms: Array<[string, string]> = [];
  const identifier = one(query, 'patient:identifier');
  if (identifier !== undefined) {
    const { system, value } = splitToken(identifier);
    if (!system || !sameSystem(system, SYSTEMS.nhsNumber) || !/^\d{10}$/.test(value)) {
      throw badRequest('value', 'patient:identifier must be https://fhir.nhs.uk/Id/nhs-number|<10-digit NHS number>', 'patient:identifier');
    }
    terms.push(['nhs', value]);
  }
  const name = one(query, 'patient:name') ?? one(query, 'patient:family');
  if (name !== undefined) {
    if (name.trim() === '') {
      throw badRequest('value', 'patient:name must not be empty', 'patient:name');
    }
    terms.push(['family', name.trim().toLowerCase()]);
  }
  const birthdate = one(query, 'patient:birthdate');
  if (birthdate !== undefined) {
    const date = birthdate.replace(/^eq/, '');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
      throw badRequest('value', 'patient:birthdate must be a date YYYY-MM-DD', 'patient:birthdate');
    }
    terms.push(['birthdate', date]);
  }
  const postcode = one(query, 'patient:address-postalcode');
  if (postcode !== undefined) {
    terms.push(['postcode', postcode.replace(/\s/g, '').toUpperCase()]);
  }
  const business = one(query, 'identifier');
  if (business !== undefined) {
    if (!business.includes('|')) {
      throw badRequest('value', 'identifier must be system|value', 'identifier');
    }
    terms.push(['identifier', business.toLowerCase()]);
  }
  // A query of one nameless token, `?https://fhir.nhs.uk/Id/nhs-number|<value>` (TKW Get*PatientParameterMissing and
  // GetAppointmentPatientParameterInvalid), is a patient:identifier value sent without its name. With no NHS number
  // after the `|` the parameter value was not included (400 required, below); with something that is not an NHS
  // number it is an invalid parameter value: "header value/parameter invalid" → 400 value (REC_BAD_REQUEST codes).
  const nameless = Object.keys(query).find((k) => query[k] === '' && k.startsWith(`${SYSTEMS.nhsNumber}|`));
  if (terms.length === 0 && nameless && nameless.slice(SYSTEMS.nhsNumber.length + 1) !== '') {
    throw badRequest('value', 'patient:identifier must be https://fhir.nhs.uk/Id/nhs-number|<10-digit NHS number>', 'patient:identifier');
  }
  if (terms.length === 0) {
    throw badRequest('required', 'A patient search needs patient:identifier, or demographic parameters', 'patient:identifier');
  }
  // Demographics alone must narrow to a person: a family name needs a birth date or postcode with it.
  if (!identifier && !business && terms.length < 2) {
    throw badRequest('required', 'Search by demographics needs at least two of patient:name, patient:birthdate, patient:address-postalcode', 'patient');
  }
  const records = await store.search(type, terms);
  const params = Object.entries(query)
    .filter(([k]) => k !== '_format' && SEARCH_PARAMS.includes(k))
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    total: records.length,
    link: [{ relation: 'self', url: `${baseUrl}/${type}?${params}` }],
    ...(records.length > 0
      ? {
          entry: records.map((r) => ({
            fullUrl: `${baseUrl}/${type}/${r.id}`,
            resource: currentResource(r),
            search: { mode: 'match' },
          })),
        }
      : {}),
  };
}
