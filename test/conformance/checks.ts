/*
 * JSON equivalents of the TKW check steps (autotest_config/tstp/BaRS_Common.tstp PASSFAIL: synchronousxpath /
 * httpheadercheck rules). Each returns undefined when the check holds, else what was wrong.
 */
import type { TkwResponse } from './client.js';

type R = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface CheckContext {
  readonly res: TkwResponse;
  /** The response body as a FHIR JSON object (converted from XML when the response was XML), if it parsed. */
  readonly body: R | undefined;
  readonly requestHeaders: Record<string, string>;
  readonly requestBody: R | undefined;
  readonly today1: string;
  readonly today4: string;
}

const h = (res: TkwResponse, name: string): string | undefined => {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};
const reqH = (c: CheckContext, name: string): string | undefined =>
  Object.entries(c.requestHeaders).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
const resources = (b: R | undefined, type?: string): R[] =>
  b?.resourceType === 'Bundle' ? (b.entry ?? []).map((e: R) => e.resource).filter((r: R | undefined) => r && (!type || r.resourceType === type)) : [];
const issue = (c: CheckContext): R | undefined => (c.body?.resourceType === 'OperationOutcome' ? c.body.issue?.[0] : undefined);
const fail = (ok: boolean, why: string): string | undefined => (ok ? undefined : why);

function issueCode(pattern: RegExp) {
  return (c: CheckContext) => {
    const code = issue(c)?.code as string | undefined;
    return fail(!!code && pattern.test(code), `issue.code ${code ?? '(none)'} does not match ${pattern}`);
  };
}
function detailsCode(pattern: RegExp) {
  return (c: CheckContext) => {
    const code = issue(c)?.details?.coding?.[0]?.code as string | undefined;
    return fail(!!code && pattern.test(code), `issue.details code ${code ?? '(none)'} does not match ${pattern}`);
  };
}
const useContextCodings = (c: CheckContext): R[] =>
  resources(c.body, 'MessageDefinition').flatMap((md) => (md.useContext ?? []).flatMap((u: R) => u.valueCodeableConcept?.coding ?? []));
function useCaseStarts(...prefixes: string[]) {
  return (c: CheckContext) => fail(
    useContextCodings(c).some((cd) => cd.system === 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars' && prefixes.some((p) => String(cd.code).startsWith(p))),
    `no MessageDefinition useContext use case starting ${prefixes.join(' or ')}`,
  );
}
const isBundle = (c: CheckContext): string | undefined => fail(c.body?.resourceType === 'Bundle', `response is ${c.body?.resourceType ?? 'not FHIR'}, not a Bundle`);
const hasAppt = (c: CheckContext): string | undefined => fail(resources(c.body, 'Appointment').length > 0, 'response Bundle has no Appointment');
function headerMatches(name: string) {
  return (c: CheckContext) => fail(h(c.res, name) !== undefined && h(c.res, name) === reqH(c, name), `${name} ${h(c.res, name) ?? '(none)'} is not the request's ${reqH(c, name) ?? '(none)'}`);
}
function echoedIds(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {node.forEach((n) => echoedIds(n, out));}
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'id' && typeof v === 'string' && /^__.+__$/.test(v)) {out.push(v);}
      else {echoedIds(v, out);}
    }
  }
  return out;
}

export const CHECKS: Record<string, (c: CheckContext) => string | undefined> = {
  httpheadercheckcontenttypeisjson: (c) => fail(/^application\/fhir\+json/.test(h(c.res, 'Content-Type') ?? ''), `Content-Type ${h(c.res, 'Content-Type')}`),
  httpheadercheckcontenttypeisxml: (c) => fail(/^application\/fhir\+xml/.test(h(c.res, 'Content-Type') ?? ''), `Content-Type ${h(c.res, 'Content-Type')}`),
  response_has_request_id_header: (c) => fail(h(c.res, 'X-Request-ID') !== undefined, 'no X-Request-ID in the response'),
  response_has_correlation_id_header: (c) => fail(h(c.res, 'X-Correlation-ID') !== undefined, 'no X-Correlation-ID in the response'),
  integrity_request_id_headers_match: headerMatches('X-Request-ID'),
  integrity_correlation_id_headers_match: headerMatches('X-Correlation-ID'),
  response_is_bundle: isBundle,
  response_is_bundle_extracting1: isBundle,
  responseisbundle_extracting_referral_serviceid: isBundle,
  responseisbundle_extracting_validation_serviceid: isBundle,
  response_is_appt: hasAppt,
  response_is_appt_extracting1: hasAppt,
  operation_outcome: (c) => fail(c.body?.resourceType === 'OperationOutcome', `response is ${c.body?.resourceType ?? 'not FHIR'}, not an OperationOutcome`),
  issue_code_conflict: issueCode(/^conflict$/),
  issue_code_duplicate: issueCode(/^duplicate$/),
  issue_code_invariant: issueCode(/^invariant$/),
  issue_code_not_found: issueCode(/^not-found$/),
  issue_code_not_supported: issueCode(/^not-supported$/),
  issue_code_required: issueCode(/^required$/),
  issue_code_too_costly: issueCode(/^too-costly$/),
  issue_code_value: issueCode(/^value$/),
  issue_code_value_or_invalid: issueCode(/^(value|invalid)$/),
  issue_code_value_or_invariant: issueCode(/^(value|invariant)$/),
  issue_details_code_bad_request: detailsCode(/^REC_BAD_REQUEST$/),
  issue_details_code_conflict: detailsCode(/^REC_CONFLICT$/),
  issue_details_code_method_not_allowed: detailsCode(/^REC_METHOD_NOT_ALLOWED$/),
  issue_details_code_not_found: detailsCode(/^REC_NOT_FOUND$/),
  issue_details_code_send_or_rec_bad_request: detailsCode(/^(SEND|REC)_BAD_REQUEST$/),
  issue_details_code_unprocessable_entity: detailsCode(/^REC_UNPROCESSABLE_ENTITY$/),
  bundleidscorrelate: (c) => fail(!!c.body?.id && c.body.id === c.requestBody?.id, `response Bundle.id ${c.body?.id} is not the request's ${c.requestBody?.id}`),
  response_is_not_echoing_ids: (c) => {
    const ids = echoedIds(c.body);
    return fail(ids.length === 0, `response echoes sender placeholder ids ${ids.slice(0, 3).join(', ')}`);
  },
  search_count_is_greater_than_zero: (c) => fail(Number(c.body?.total) > 0, `Bundle.total ${c.body?.total}`),
  search_count_is_zero: (c) => fail(String(c.body?.total) === '0', `Bundle.total ${c.body?.total}`),
  response_is_messagedefinition: (c) => fail(resources(c.body, 'MessageDefinition').length > 0, 'no MessageDefinition in the response'),
  old_format_serviceid_present: (c) => {
    const mds = resources(c.body, 'MessageDefinition');
    const ok = mds.filter((md) => (md.useContext ?? []).some((u: R) => u.code?.system === 'https://fhir.nhs.uk/Id/dos-service-id' && u.code?.code
      && (u.valueCodeableConcept?.coding ?? []).some((cd: R) => cd.system === 'http://terminology.hl7.org/CodeSystem/variant-state')));
    return fail(mds.length > 0 && ok.length === mds.length, `${ok.length}/${mds.length} MessageDefinitions carry the old-format service id`);
  },
  new_format_serviceid_present: (c) => {
    const mds = resources(c.body, 'MessageDefinition');
    const ok = mds.filter((md) => (md.useContext ?? []).some((u: R) => u.code?.system === 'http://terminology.hl7.org/CodeSystem/usage-context-type'
      && (u.valueCodeableConcept?.coding ?? []).some((cd: R) => cd.system === 'https://fhir.nhs.uk/Id/dos-service-id' && cd.code)));
    return fail(mds.length > 0 && ok.length === mds.length, `${ok.length}/${mds.length} MessageDefinitions carry the new-format service id`);
  },
  referralrequest_messagedefinition_has_usecase: (c) => fail(useContextCodings(c).some((cd) => cd.system === 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars'), 'no use-case useContext'),
  referralrequest_usecase_includes_a1t_or_a2t: useCaseStarts('a1t', 'a2t'),
  referralrequest_usecase_includes_a3t: useCaseStarts('a3t'),
  referralrequest_usecase_includes_a5t: useCaseStarts('a5t'),
  referralrequest_usecase_includes_a6t: useCaseStarts('a6t'),
  ValidationRequest_usecase_includes_a4t: useCaseStarts('a4t'),
  messagedefinition_includes_procedure: (c) => fail(resources(c.body, 'MessageDefinition').some((md) => (md.focus ?? []).some((f: R) => f.profile === 'https://fhir.hl7.org.uk/StructureDefinition/UKCore-Procedure')), 'no MessageDefinition focus with the UKCore-Procedure profile'),
  messagedefinition_includes_communication: (c) => fail(resources(c.body, 'MessageDefinition').some((md) => (md.focus ?? []).some((f: R) => f.profile === 'https://fhir.hl7.org.uk/StructureDefinition/UKCore-Communication')), 'no MessageDefinition focus with the UKCore-Communication profile'),
  referralrequest_GPtoPharm_MessageDefinition_Condition: (c) => fail(resources(c.body, 'MessageDefinition').some((md) => (md.focus ?? []).some((f: R) => f.code === 'Condition')), 'no MessageDefinition focus Condition'),
  referralrequest_GPtoPharm_MessageDefinition_Task: (c) => fail(resources(c.body, 'MessageDefinition').some((md) => (md.focus ?? []).some((f: R) => f.code === 'Task')), 'no MessageDefinition focus Task'),
  response_is_capability_statement: (c) => fail(c.body?.resourceType === 'CapabilityStatement', `response is ${c.body?.resourceType ?? 'not FHIR'}`),
  response_has_was_gzip_header: (c) => fail(c.res.wasGzip, 'the response was not gzip-encoded'),
  slots_status_free: (c) => fail(resources(c.body, 'Slot').every((s) => s.status === 'free'), 'a Slot that is not free'),
  slots_too_early: (c) => fail(resources(c.body, 'Slot').every((s) => Date.parse(s.start) >= Date.parse(c.today1)), `a Slot starts before ${c.today1}`),
  slots_too_late: (c) => fail(resources(c.body, 'Slot').every((s) => Date.parse(s.start) <= Date.parse(c.today4)), `a Slot starts after ${c.today4}`),
  appt_has_id: (c) => fail(resources(c.body, 'Appointment').some((a) => !!a.id), 'Appointment without id'),
  appt_is_booked: (c) => fail(resources(c.body, 'Appointment').some((a) => a.status === 'booked'), 'Appointment not booked'),
};

/** Which checks feed which extractor (the EXTRACTOR clause of the PASSFAIL rule). */
export const EXTRACTORS: Record<string, 'serviceRequest' | 'slots'> = {
  responseisbundle_extracting_referral_serviceid: 'serviceRequest',
  responseisbundle_extracting_validation_serviceid: 'serviceRequest',
  response_is_bundle_extracting1: 'slots',
  response_is_appt_extracting1: 'slots',
};
