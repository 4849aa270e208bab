/*
 * The HL7 v2 dictionaries used to build and check messages: hl7v2-dictionary's standard definitions, with the HSCIC ITK
 * HL7 v2.4 profile applied to v2.4 (HSCIC ITK HL7 V2 Message Specifications v1.0.15):
 *  - §5.1 MSH-3..6 Sending/Receiving Application/Facility are R (optional in base v2.4);
 *  - §5.12 ZU1 "UK Additional Data" is defined (Z segments are not in the base dictionary);
 *  - XON-3 carries the ODS code in ITK messages (e.g. PD1-3 `MALTON GP PRACTICE^^Y06601`), so it is ST, not NM.
 * ZU1 fields are declared ST: values are formatted by the rules (TS already rendered), and the library must not
 * re-encode them (its TS encoder pads partial dates, which would change what the rule produced).
 */
import { dictionaries as standard, type HL7Dictionary } from 'hl7v2';

const ZU1_FIELDS: Record<number, string> = {
  1: 'Date of decision to admit',
  2: 'Intended Management',
  3: 'Coding Status',
  4: 'Consultant Episode start Date/Time',
  5: 'Consultant Episode end Date/Time',
  6: "Consultant's main specialty",
  9: 'Neonatal level of care',
  10: 'Overseas Visitor Status',
  13: 'Source of Referral',
  14: 'Service Type Requested',
  15: 'Referral Request Received Date',
  16: 'Referral Date',
  17: 'Referral Receipt Method',
  18: 'Written Referral Indicator',
  27: 'NHS Number Tracing Status',
};

function itk24(base: HL7Dictionary): HL7Dictionary {
  const zu1: Record<string, { type: string; desc: string; opt: 'O'; rep: 1 }> = {};
  for (let i = 1; i <= 27; i++) zu1[i] = { type: 'ST', desc: ZU1_FIELDS[i] ?? 'Not used in ITK', opt: 'O', rep: 1 };
  return base.extend({
    segments: {
      ZU1: { desc: 'UK Additional Data (ITK §5.12)', fields: zu1 },
      MSH: { fields: { 3: { opt: 'R' }, 4: { opt: 'R' }, 5: { opt: 'R' }, 6: { opt: 'R' } } },
    },
    types: { XON: { fields: { 3: { type: 'ST' } } } },
  });
}

/** Every version hl7v2 knows, with the ITK profile applied to 2.4. Pass to `new HL7Message(v, d)` and `parse`. */
export const DICTIONARIES: Record<string, HL7Dictionary> = { ...standard, '2.4': itk24(standard['2.4']) };

/** The dictionary for a version string, or undefined when hl7v2 has none. */
export function dictionaryFor(version: string): HL7Dictionary | undefined {
  return DICTIONARIES[version];
}
