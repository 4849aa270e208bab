/*
 * TKW receiver schedules this project judges wrong (they contradict the standard or another TKW schedule), with the
 * reason. They are skipped with that reason, never passed silently; KNOWN-DIFFERENCES.md has the evidence.
 */
const RESENT_BUNDLE_ID =
  'steps after the first keep the template Bundle.id (__BUNDLE_ID__ = the previous response\'s, i.e. the previous request\'s) because 6_OOA_x_2+ .xslt do not include common_message_transforms; a reused Bundle.id is 400 invariant in every *_WithResentBundleID schedule and the BaRS Bundle-Processing rules';

export const KNOWN_DIFFERENCES: Record<string, string> = {
  ReferralRequest_CADtoCAD_json_Scenario_2:
    `step 1 (6_OOA_2_1.xslt, unlike 6_OOA_1_1) keeps reason=update and removes every id, so it "updates" a referral the receiver never received (404); and ${RESENT_BUNDLE_ID}`,
  ReferralRequest_CADtoCAD_Cancel:
    'step 1 (create_referral_request.xslt) sends the template patient (NHS 3478526985) and step 2 (cancel_service_request.xslt includes patient_is_traced) cancels for NHS 9658218873; the Cancellation page says key demographics should be cross-referenced (and TKW CancelAppointment_DifferencesDetected expects 422 for differing details)',
  ReferralRequest_CADtoCAD_CarePlanNotComplete:
    'the referral_request_04 template already has CarePlan.status active and ReferralRequest_CADtoCAD_json_accept/_Basic/_NoNhsNo send it expecting 200; CAD to CAD refers while the incident is open (REFREQ04, APP6)',
  ReferralRequest_04_Test_NoLocation:
    'the published referral MessageDefinition has Location 0..1 (incident) / 0..* and ReferralRequest_CADtoCAD_Basic also drops every Location and locationReference yet expects 200',
  ValidationRequest_NoUPRN:
    'leaves address, eastings/northings and position in the Location; ValidationRequest_Location_Address / _EN / _LL (no UPRN either) expect 200; APP4: "a co-ordinate… or a property location identifier"',
  ValidationRequest_NoLocationAddressPostcodeEastingsNorthings:
    'leaves UPRN and position in the Location; ValidationRequest_Location_UPRN and ValidationRequest_Location_LL (each alone) expect 200',
  ValidationRequest_WithNonGUIDRequestID:
    'expects issue code invariant for a non-GUID X-Request-ID; the IG failure table and the same schedule in the 111/999/CAD/GP/Booking suites expect value|invalid',
  ReferralRequest_999toCAS_context_usecasecode_GetMessageDefinition_xml_accept:
    'asks for context usecases-categories-bars|a1t1 and then checks for an a3t use case (copy of the 111 schedule)',
  ReferralRequest_999toCAS_context_usecasecode_GetMessageDefinition_json_accept:
    'asks for context usecases-categories-bars|a1t1 and then checks for an a3t use case (copy of the 111 schedule)',
  SFFSWithNoIncludePractitioner:
    'expects 400 when only _include=Schedule:actor:Practitioner is missing; IG GET--Slots: the minimum is Slot:schedule and Schedule:actor:HealthcareService, other includes optional (unsupported ones ignored)',
};
