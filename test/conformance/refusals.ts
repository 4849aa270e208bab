/*
 * What each refused TKW step must be refused FOR: the issue code and the element (OperationOutcome issue.expression)
 * or header/parameter (expression, else diagnostics) the refusal names. Written from what each XSLT transform breaks
 * (mutations.ts) or, when the transform is the plain template, from what the schedule changes (header, method, query)
 * — an expectation independent of the receiver's answers, so a 4xx for an unrelated reason fails the schedule.
 */
export interface Refusal {
  /** OperationOutcome.issue[0].code. */
  readonly code: RegExp;
  /** Matched against issue.expression (joined), or diagnostics when the refusal has no expression. */
  readonly names: RegExp;
}
const r = (code: RegExp, names: RegExp): Refusal => ({ code, names });

/** By transform: the element the transform breaks. */
const BY_TRANSFORM: Record<string, Refusal> = {
  'create_service_request_and_remove_rank1.xslt': r(/^invariant$/, /^Patient\.contact/), // no contact has ContactRank 1
  'create_service_request_and_change_rank.xslt': r(/^invariant$/, /^Patient\.contact/), // every contact has ContactRank 1
  'remove_appt_id_and_rank1.xslt': r(/^invariant$/, /^Patient\.contact/),
  'remove_appt_id_and_change_rank.xslt': r(/^invariant$/, /^Patient\.contact/),
  'create_service_request_not_direct_care.xslt': r(/^invariant$/, /^Consent\.category/), // Consent category not DRC
  'create_service_request_and_remove_versionid.xslt': r(/^invariant$/, /^Bundle\.meta\.versionId$/),
  'remove_appt_id_and_versionid.xslt': r(/^invariant$/, /^Bundle\.meta\.versionId$/),
  'create_service_request_invalidate_event_code.xslt': r(/^invariant$/, /^MessageHeader\.event/),
  'remove_appt_id_invalidate_event_code.xslt': r(/^invariant$/, /^MessageHeader\.event/),
  'create_service_request_invalidate_reason_code.xslt': r(/^invariant$/, /^MessageHeader\.reason/),
  'remove_appt_id_invalidate_reason_code.xslt': r(/^invariant$/, /^MessageHeader\.reason/),
  'create_service_request_change_careplan_status_active.xslt': r(/^invariant$/, /^CarePlan\.status$/),
  'create_service_request_change_careplan_status_completed.xslt': r(/^invariant$/, /^CarePlan\.status$/),
  'create_service_request_change_encounter_status.xslt': r(/^invariant$/, /^Encounter\.status$/),
  'create_service_request_change_category.xslt': r(/^invariant$/, /^ServiceRequest\.category/),
  'cancel_service_request_change_category.xslt': r(/^invariant$/, /^ServiceRequest\.category/),
  'create_service_request_no_ucc.xslt': r(/^required$/, /^ServiceRequest\.category/), // the use-case coding removed
  'create_service_request_invalid_ucc.xslt': r(/^(value|invalid)$/, /^ServiceRequest\.category/), // a code not in the CodeSystem
  'cancel_service_request_invalid_status.xslt': r(/^invariant$/, /^ServiceRequest\.status$/), // completed is not a cancellation
  'create_service_request_resend_bundleid.xslt': r(/^invariant$/, /^Bundle\.id$/),
  'remove_appt_id_resend_bundleid.xslt': r(/^invariant$/, /^Bundle\.id$/),
  'update_service_request_invalid_last_updated.xslt': r(/^conflict$/, /^Patient\.meta\.lastUpdated$/), // Patient older
  'add_appointment_resource.xslt': r(/^invariant$/, /^Appointment$/), // a second Appointment
  'cancel_appointment_and_change_details.xslt': r(/^invariant$/, /^Appointment\.participant/), // patient participant gone
  'create_service_request_no_location.xslt': r(/^(invariant|required)$/, /^Location/),
};

/** By what the schedule changes besides the body (suffix of the schedule id). */
const BY_SCHEDULE: Array<[RegExp, Refusal]> = [
  [/_WrongMethod$/, r(/^not-supported$/, /POST/)], // PUT: the diagnostics name the allowed method
  [/_WithResentRequestID$/, r(/^duplicate$/, /^X-Request-Id$/i)],
  [/_WithNoRequestID$/, r(/^required$/, /^X-Request-Id$/i)],
  [/_WithNonGUIDRequestID$/, r(/^(value|invalid)$/, /^X-Request-Id$/i)],
  [/_UnsupportedMediaType$/, r(/^not-supported$/, /^Content-Type$/i)],
  [/_SlotAlreadyBooked$/, r(/^conflict$/, /^Appointment\.slot/)], // the same Slot booked twice
  [/PathIdMissing$/, r(/^required$/, /^patient:identifier$/)], // `/X/` is a search with no parameter
  [/PathIdInvalid$/, r(/^value$/, /^(ServiceRequest|Appointment)\.id$/)],
  [/PathIdNotFound$/, r(/^not-found$/, /95e58add-0b10-4a8c-817c-2729eb0cab75/)], // diagnostics name the id
  [/PatientParameterMissing$/, r(/^required$/, /^patient:identifier$/)],
  [/PatientParameterInvalid$/, r(/^value$/, /^patient:identifier$/)],
  [/_no_context_parameter$/, r(/^required$/, /^context$/)],
  [/_context_does_not_exist$/, r(/^not-found$/, /99999999999999/)],
  [/_context_is_invalid$/, r(/^(invalid|value)$/, /^context$/)],
  [/^SFFSInvalid$/, r(/^(required|value)$/, /^start/)], // `startXXXXXXX=ge…`: one start, the other under a bad name
  [/^SFFSWithNoInclude/, r(/^required$/, /^_include$/)],
  [/^SFFSWithNoStatus$/, r(/^required$/, /^status$/)],
  [/^SFFSWithInvalidStatus$/, r(/^value$/, /^status$/)],
  [/^SFFSWith(No|Invalid)HealthcareService$/, r(/^(required|value|invariant)$/, /^Schedule\.actor:HealthcareService$/)],
  [/^SFFSWithHealthcareServiceNotFound$/, r(/^not-found$/, /9999999999999999999/)],
  [/^SFFSWith(No|One|Three)StartDates?$/, r(/^required$/, /^start$/)],
  [/^SFFSWithDateRangeTooWide$/, r(/^too-costly$/, /^start$/)],
  [/^SFFSWithDate(Missing|Wrong)Timezone$/, r(/^value$/, /^start$/)],
  [/^UnsolicitedValidationResponse/, r(/^invariant$/, /^MessageHeader\.response/)],
];

/** The header/schedule change wins over the (plain) template transform it is sent with. */
export function expectedRefusal(scheduleId: string, transform: string | null | undefined): Refusal | undefined {
  return BY_SCHEDULE.find(([re]) => re.test(scheduleId))?.[1] ?? (transform ? BY_TRANSFORM[transform] : undefined);
}
