/*
 * REFERENCE COPY (for tests only) of src/mapping/hl7-writer.ts as it was while it built the message with hl7v2's
 * HL7Message: test/unit/mapping/writer-reference.test.ts checks the direct writer against it (same bytes, same errors).
 *
 * Builds the HL7 v2 message with the hl7v2 package from the evaluated segments: MSH first, with MSH-7 (`now`),
 * MSH-9 (output message type), MSH-10 (the caller's control id, so a resend is the same message) and MSH-12 written by
 * the engine; every other value comes from the rules. The library does the escaping of `| ^ ~ \ &`.
 * Text continued from a long field (`overflow: nte`) becomes NTE segments right after its segment.
 */
import { HL7Message } from 'hl7v2';
import type { BuiltSegment } from '../../../../src/mapping/evaluate.js';
import { DICTIONARIES } from '../../../../src/mapping/hl7-dictionary.js';
import type { Hl7Output } from '../../../../src/mapping/types.js';

/** Renders the ordered segments to ER7 text (segments separated by CR, with a trailing CR) using hl7v2. */
export function referenceWriteHl7(output: Hl7Output, segments: readonly BuiltSegment[]): string {
  const msg = new HL7Message(output.version as never, DICTIONARIES);
  for (const seg of segments) {
    const target = seg.type === 'MSH' ? msg.header : msg.addSegment(seg.type);
    if (seg.type === 'MSH') {
      // The library pre-fills MSH-7, MSH-10 and MSH-18; every MSH field is ours, so start from empty.
      for (let n = 3; n <= 21; n++) {target.field(n).setValue(undefined);}
    }
    seg.fields.forEach((field, n) => {
      if (!field || (seg.type === 'MSH' && n <= 2)) {return;}
      if (seg.type === 'MSH' && n === 9) {
        target.field(9).fromHL7String(field[1].slice(1).map((c) => c[1] ?? '').join('^'));
        return;
      }
      field.forEach((rep, r) => {
        if (r === 0 || !rep) {return;}
        rep.forEach((comp, c) => {
          if (c === 0 || !comp) {return;}
          comp.forEach((v, s) => {
            if (s === 0 || v === undefined) {return;}
            const rep = target.field(n).repetition(r - 1);
            // hl7v2 refuses a sub-component index on primitive components, so only pass it when there is one.
            if (s === 1) {rep.setValue(v, c);}
            else {rep.setValue(v, c, s);}
          });
        });
      });
    });
  }
  return msg.toHL7String();
}
