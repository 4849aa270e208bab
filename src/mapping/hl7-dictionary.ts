/*
 * The HL7 v2 dictionaries used to build and check messages: hl7v2-dictionary's standard definitions, with the HSCIC ITK
 * HL7 v2.4 profile applied to v2.4 (HSCIC ITK HL7 V2 Message Specifications v1.0.15):
 *  - §5.1 MSH-3..6 Sending/Receiving Application/Facility are R (optional in base v2.4);
 *  - §5.12 ZU1 "UK Additional Data" is defined (Z segments are not in the base dictionary);
 *  - XON-3 carries the ODS code in ITK messages (e.g. PD1-3 `MALTON GP PRACTICE^^Y06601`), so it is ST, not NM.
 * ZU1 fields are declared ST: values are formatted by the rules (TS already rendered).
 *
 * Dates are written verbatim in every version: hl7v2 1.9.0's TS/DT/DTM/TM encoders re-format string values on
 * serialisation — `20211013162027-0330` becomes `202110131620270330` (the sign of a negative offset is lost) and
 * `2021` becomes `20210101` (found by the property tests). Our rules already produce HL7 TS text (datetime.ts), so the
 * encoders are replaced by a pass-through for strings, and the decoders (which the library also runs when a value
 * is set) check the text against the HL7 v2.4 grammar (§2.A.21 DT, §2.A.77 TM, §2.A.81 TS) and keep it as text, so
 * strict parsing still rejects a malformed date. (The library's own decoder also rejects valid offsets such as
 * +1300 and +1400, used in New Zealand and Kiribati.)
 */
import { dictionaries as standard, type HL7Dictionary } from 'hl7v2';
import { findNearestHL7Version, type HL7Version } from 'hl7v2-dictionary';

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
  for (let i = 1; i <= 27; i++) {zu1[i] = { type: 'ST', desc: ZU1_FIELDS[i] ?? 'Not used in ITK', opt: 'O', rep: 1 };}
  return base.extend({
    segments: {
      ZU1: { desc: 'UK Additional Data (ITK §5.12)', fields: zu1 },
      MSH: { fields: { 3: { opt: 'R' }, 4: { opt: 'R' }, 5: { opt: 'R' }, 6: { opt: 'R' } } },
    },
    types: { XON: { fields: { 3: { type: 'ST' } } } },
  });
}

type Codec = (v: unknown) => unknown;
const verbatimEncode =
  (encode: Codec | undefined): Codec =>
  (v) =>
    typeof v === 'string' ? v : encode ? encode(v) : String(v);
const OFFSET = '(?:[+-](?:0\\d|1[0-4])[0-5]\\d)?';
const GRAMMAR = {
  DT: /^\d{4}(?:\d{2}(?:\d{2})?)?$/,
  TM: new RegExp(`^\\d{2}(?:\\d{2}(?:\\d{2}(?:\\.\\d{1,4})?)?)?${OFFSET}$`),
  TS: new RegExp(`^\\d{4}(?:\\d{2}(?:\\d{2}(?:\\d{2}(?:\\d{2}(?:\\d{2}(?:\\.\\d{1,4})?)?)?)?)?)?${OFFSET}$`),
};
const validatingDecode =
  (decode: Codec | undefined, grammar: RegExp): Codec =>
  (v) => {
    if (typeof v !== 'string') {return decode ? decode(v) : v;}
    if (!grammar.test(v)) {throw new Error(`Value "${v}" is not a valid date/time string`);}
    return v;
  };
const verbatim = <T extends { encode?: unknown; decode?: unknown }>(def: T, grammar: RegExp): T => ({
  ...def,
  encode: verbatimEncode(def.encode as Codec | undefined),
  decode: validatingDecode(def.decode as Codec | undefined, grammar),
});

/** A copy of `dict` whose date/time types write string values as given (see file header); `dict` is not changed. */
function withVerbatimDates(dict: HL7Dictionary): HL7Dictionary {
  const copy = dict.extend({});
  const types = { ...copy.types };
  for (const [name, grammar] of [['DT', GRAMMAR.DT], ['DTM', GRAMMAR.TS], ['TM', GRAMMAR.TM]] as const) {
    if (types[name]) {types[name] = verbatim(types[name], grammar);}
  }
  const ts = types.TS;
  if (ts?.fields?.[1]) {
    types.TS = { ...ts, fields: { ...ts.fields, 1: verbatim(ts.fields[1], GRAMMAR.TS) } };
  }
  copy.types = types;
  return copy;
}

/**
 * Every version hl7v2 knows, with the ITK profile applied to 2.4. Pass to `new HL7Message(v, d)` (not to the static
 * `HL7Message.parse`, which starts every message at v2.7.1). Each version's copy is made the first time it is read:
 * the mappings use one or two of the eleven, and a copy of all of them held ~8 MB of the worker's heap.
 */
export const DICTIONARIES: Record<string, HL7Dictionary> = {};
for (const [v, d] of Object.entries(standard)) {
  let copy: HL7Dictionary | undefined;
  Object.defineProperty(DICTIONARIES, v, { enumerable: true, get: () => (copy ??= withVerbatimDates(v === '2.4' ? itk24(d) : d)) });
}

/** The dictionary for a version string, or undefined when hl7v2 has none. */
export function dictionaryFor(version: string): HL7Dictionary | undefined {
  return DICTIONARIES[version];
}

/**
 * MSH-12 Version ID text as hl7v2's version type. hl7v2 compares versions as text, so any string is a valid input: a
 * version it has no dictionary for reads as the nearest one below it, and text that is no version at all as 2.1.
 */
export function versionOf(text: string | undefined): HL7Version {
  return (text ?? '') as HL7Version;
}

/** hl7v2's dictionary version nearest at or below MSH-12 `text`. */
export function nearestVersion(text: string | undefined): HL7Version {
  return findNearestHL7Version(versionOf(text));
}
