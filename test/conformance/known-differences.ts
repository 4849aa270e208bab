/*
 * TKW receiver schedules this project does not run, each with its kind and reason; they are skipped with both, never
 * passed silently. KNOWN-DIFFERENCES.md has the evidence.
 *  - `contradictory`: TKW contradicts itself — a sibling schedule (named) sends the same thing and expects the
 *    opposite, or the schedule's own request and check disagree; no receiver can pass both.
 *  - `deviation`: our deliberate deviation — TKW's answer is reachable, but the standard (page cited) says otherwise.
 */
export type DifferenceKind = 'contradictory' | 'deviation';
export interface KnownDifference {
  readonly kind: DifferenceKind;
  readonly reason: string;
}

const contradictory = (reason: string): KnownDifference => ({ kind: 'contradictory', reason });
const deviation = (reason: string): KnownDifference => ({ kind: 'deviation', reason });

export const KIND_LABEL: Record<DifferenceKind, string> = {
  contradictory: 'TKW contradicts itself',
  deviation: 'our deliberate deviation',
};

const USE_CASE_COPY = 'asks for context usecases-categories-bars|a1t1 and then checks for an a3t use case (its own request and check disagree; copied from ReferralRequest_111toED_context_usecasecode_GetMessageDefinition_*, which asks for a1t1 and checks a1t/a2t)';

export const KNOWN_DIFFERENCES: Record<string, KnownDifference> = {
  ReferralRequest_CADtoCAD_CarePlanNotComplete: contradictory(
    'sets CarePlan.status active expecting 400, but the referral_request_04 template already has CarePlan active and ReferralRequest_CADtoCAD_json_accept / _xml_accept / _Basic / _NoNhsNo send it unchanged expecting 200'),
  ReferralRequest_04_Test_NoLocation: contradictory(
    'removes every Location expecting 400, but ReferralRequest_CADtoCAD_Basic also drops every Location and locationReference and expects 200 (the published referral MessageDefinition has Location 0..1 / 0..*)'),
  ValidationRequest_NoUPRN: contradictory(
    'removes only the UPRN (address, eastings/northings and position remain) expecting 400, but ValidationRequest_Location_Address / _EN / _LL carry no UPRN either and expect 200'),
  ValidationRequest_NoLocationAddressPostcodeEastingsNorthings: contradictory(
    'leaves UPRN and position expecting 400, but ValidationRequest_Location_UPRN and ValidationRequest_Location_LL (each alone) expect 200'),
  ValidationRequest_WithNonGUIDRequestID: contradictory(
    'expects issue code invariant for a non-GUID X-Request-ID; ReferralRequest_111toED / _999toCAS / _CADtoCAD _WithNonGUIDRequestID and BookAppointment_WithNonGUIDRequestID send the same header and expect value|invalid (as the IG failure table says)'),
  ReferralRequest_999toCAS_context_usecasecode_GetMessageDefinition_xml_accept: contradictory(USE_CASE_COPY),
  ReferralRequest_999toCAS_context_usecasecode_GetMessageDefinition_json_accept: contradictory(USE_CASE_COPY),
  ReferralRequest_CADtoCAD_json_Scenario_2: deviation(
    'step 1 (6_OOA_2_1.xslt, unlike 6_OOA_1_1) keeps reason update and removes every id, so it updates a referral the receiver never received; an update needs the record it updates (Cancellation / Bundle-Processing pages: "must not process … a referral which is not current", 404 REC_NOT_FOUND) — steps 2–3 would pass'),
  ReferralRequest_CADtoCAD_Cancel: deviation(
    'step 1 refers Julie Jones (NHS 3478526985, 1959) and step 2 (cancel_service_request.xslt includes patient_is_traced) cancels it for Mike Meakin (NHS 9658218873, 1927): NHS number, name and birth date all contradict; the Cancellation page: "Key patient demographics should be cross-referenced", so we answer 422 (as TKW CancelAppointment_DifferencesDetected does for a cancel whose patient differs)'),
  SFFSWithNoIncludePractitioner: deviation(
    'expects 400 when only _include=Schedule:actor:Practitioner is missing; IG GET--Slots failure scenarios: "a minimum of the following 2 _includes required: Slot:schedule, Schedule:actor:HealthcareService" — requiring a third would refuse a conformant sender'),
};
