/*
 * FHIR date/dateTime/instant → HL7 v2 TS/DT. HL7 v2.4 TS is YYYY[MM[DD[HHMM[SS[.S[S[S[S]]]]]]]][+/-ZZZZ] (chapter 2.A.81);
 * the offset of the FHIR value is kept as it was sent (never converted to local time), so
 * `2021-10-13T16:20:27+07:00` becomes `20211013162027+0700` and `Z` becomes `+0000`.
 */

const FHIR_DATETIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** Thrown for a value that is not a FHIR date/dateTime/instant; the caller turns it into a mapping problem. */
export class DateFormatError extends Error {}

/**
 * FHIR date/dateTime/instant → HL7 TS, keeping the given precision and offset. Fractions of a second beyond the
 * four digits TS allows are cut to four (a precision limit of the type, not text truncation).
 */
export function fhirToHl7Ts(value: string): string {
  const m = FHIR_DATETIME.exec(value);
  if (!m) {throw new DateFormatError('not a FHIR date/dateTime/instant');}
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  let out = y + (mo ?? '') + (d ?? '');
  if (h !== undefined) {
    out += h + mi + (s ?? '');
    if (frac !== undefined && s !== undefined) {out += '.' + frac.slice(0, 4);}
    if (tz !== undefined) {out += tz === 'Z' ? '+0000' : tz.replace(':', '');}
  }
  return out;
}

/** FHIR date/dateTime → HL7 DT (YYYY[MM[DD]]): the calendar date as written, no time-zone shift (e.g. PID-7 birth date). */
export function fhirToHl7Date(value: string): string {
  const m = FHIR_DATETIME.exec(value);
  if (!m) {throw new DateFormatError('not a FHIR date/dateTime/instant');}
  return m[1] + (m[2] ?? '') + (m[3] ?? '');
}

/** A JS Date → HL7 TS in UTC with an explicit `+0000` (MSH-7 Date/Time of Message: seconds precision). */
export function dateToHl7Ts(date: Date): string {
  const iso = date.toISOString(); // 2024-01-02T03:04:05.678Z
  return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + '+0000';
}
