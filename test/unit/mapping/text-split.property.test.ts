/*
 * Free text continued over NTE segments (`overflow: nte`, src/mapping/text-split.ts) is cut only at word boundaries:
 * for any text of words of random length (some longer than the limit, some non-ASCII or outside the BMP) separated by
 * spaces, tabs and line breaks (LF, CR LF, CR), the pieces join back to the text, none is longer than the limit, and
 * no cut falls between two characters of one word unless that word is longer than the limit. Then the same through
 * the engine: a REF^I12 whose ServiceRequest.patientInstruction is such a text, read back with an independent ER7
 * split, gives NTE-3 pieces that join to the text with its line breaks as CR LF (the documented rule for FT:
 * mappings/README.md "Control characters and line breaks") and are cut only at word boundaries.
 *
 * Fresh seed every run: test/setup.ts sets and prints fast-check's global seed (FC_SEED replays it); PROPERTY_RUNS
 * sets the number of cases.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { loadMappings, renderMessage } from '../../../src/mapping/index.js';
import { BREAK_AFTER, splitAtWords } from '../../../src/mapping/text-split.js';
import type { StoredMessage } from '../../../src/protocol/bars/types.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

const isSpace = (c: string | undefined): boolean => c !== undefined && BREAK_AFTER.test(c);

const letter = fc.constantFrom(...'abcdefXYZ0189éßØ-/.,:|^~&\\'.split(''), '𝔸', '😀');
const word = (maxLength: number): fc.Arbitrary<string> => fc.array(letter, { minLength: 1, maxLength }).map((a) => a.join(''));
const separator = fc.constantFrom(' ', ' ', ' ', '  ', '\n', '\r\n', '\t', ' \n', '\r', '\n\n', '        ');

/** Words and separators; about one word in 25 is long (up to `long` characters), to exercise the hard cut. */
const freeText = (long: number): fc.Arbitrary<string> =>
  fc
    .array(fc.tuple(fc.oneof({ weight: 24, arbitrary: word(12) }, { weight: 1, arbitrary: word(long) }), separator), { minLength: 1, maxLength: 120 })
    .chain((pairs) => fc.boolean().map((trailing) => pairs.map(([w, s], i) => w + (i < pairs.length - 1 || trailing ? s : '')).join('')));

/** The length of the word (run of non-space characters) around code point index i. */
function wordLengthAt(cps: readonly string[], i: number): number {
  let a = i;
  let b = i;
  while (a > 0 && !isSpace(cps[a - 1])) {a--;}
  while (b < cps.length && !isSpace(cps[b])) {b++;}
  return b - a;
}

/** Checks the cuts between `pieces` of `text`: each at a word boundary unless the word is longer than `limit`. */
function assertWordBoundaries(text: string, pieces: readonly string[], limit: number): void {
  const cps = [...text];
  let at = 0;
  for (let i = 0; i < pieces.length - 1; i++) {
    at += [...pieces[i]].length;
    if (!isSpace(cps[at - 1]) && !isSpace(cps[at])) {
      const len = wordLengthAt(cps, at);
      assert.ok(len > limit, `cut inside a word of ${len} characters (limit ${limit}) after piece ${i + 1}: ${JSON.stringify(pieces[i].slice(-10))}|${JSON.stringify(pieces[i + 1].slice(0, 10))}`);
    }
    assert.ok(!(cps[at - 1] === '\r' && cps[at] === '\n') || limit < 2, `CR LF parted after piece ${i + 1}`);
  }
}

describe('free text cut at word boundaries (fast-check)', function () {
  this.timeout(120_000);

  it('splitAtWords: pieces join to the text, fit the limit, and are cut only between words (or inside a word longer than the limit)', function () {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 150 }).chain((long) => freeText(long)), (limit, text) => {
        const pieces = splitAtWords(text, limit);
        assert.equal(pieces.join(''), text);
        for (const p of pieces) {
          const n = [...p].length;
          assert.ok(n >= 1 && n <= limit, `piece of ${n} characters, limit ${limit}`);
        }
        assertWordBoundaries(text, pieces, limit);
        // As few pieces as cutting at word starts allows is not promised; but a text within the limit is one piece.
        if ([...text].length <= limit) {assert.deepEqual(pieces, [text]);}
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('the examples of the issue: "15 minutes" is not cut as "15 minute|s", a word longer than the limit is', function () {
    assert.deepEqual(splitAtWords('bleeding for 15 minutes', 21), ['bleeding for 15 ', 'minutes']);
    assert.deepEqual(splitAtWords('abcdefghij klm', 4), ['abcd', 'efgh', 'ij ', 'klm']);
    assert.deepEqual(splitAtWords('one\r\ntwo', 4), ['one', '\r\n', 'two']); // CR LF whole
    assert.deepEqual(splitAtWords('a😀😀 b', 3), ['a😀😀', ' b']);
  });

  it('REF^I12: a patient instruction continued over NTEs rejoins (line breaks as CR LF) and is cut only between words', function () {
    const mapping = loadMappings('mappings').get('referral-new.ref-i12')!;
    const base = JSON.parse(readFileSync('mappings/tests/referral-new.ref-i12/REFREQ01-111-to-ED.json', 'utf8')) as StoredMessage;
    const LIMIT = 240; // NTE-3 maxLength of the patient-instruction rule (mappings/_shared/ref-clinical.yaml)
    fc.assert(
      fc.property(freeText(400).filter((t) => t.trim() !== ''), (text) => {
        const msg = structuredClone(base);
        const sr = msg.bundle.entry!.map((e) => e.resource as Record<string, unknown>).find((r) => r.resourceType === 'ServiceRequest')!;
        sr.patientInstruction = text;
        const er7 = renderMessage(mapping, msg, { now: new Date('2024-03-01T09:30:05Z'), controlId: 'P1' }).text;
        // Independent read: segments on CR, fields on |, then the escapes of HL7 v2.4 §2.7 (delimiters, hex data).
        const segments = er7.split('\r').filter(Boolean).map((s) => s.split('|'));
        const start = segments.findIndex((f) => f[0] === 'NTE' && f[4] === 'PI');
        assert.ok(start > 0, 'the PI note');
        const pieces = [segments[start][3]];
        for (let i = start + 1; segments[i][0] === 'NTE' && (segments[i][4] ?? '') === ''; i++) {
          assert.equal(segments[i][1], '', 'continuation NTE-1 empty');
          assert.equal(segments[i][2], 'P', 'continuation NTE-2 P');
          pieces.push(segments[i][3]);
        }
        const read = pieces.map((p) => p.replace(/\\(X(?:[0-9A-F]{2})+|[FSTRE])\\/g, (_, s: string) =>
          s.length === 1 ? ({ F: '|', S: '^', T: '&', R: '~', E: '\\' } as Record<string, string>)[s] : Buffer.from(s.slice(1), 'hex').toString('utf8')));
        assert.ok(!pieces.some((p) => /[\r\n]/.test(p)), 'no raw line break on the wire');
        const carried = text.replace(/\r\n|[\r\n]/g, '\r\n');
        assert.equal(read.join(''), carried);
        // Cut at word boundaries, measured on the text as the engine cut it (before CR LF replaced LF and CR).
        assertWordBoundaries(text, splitAtWords(text, LIMIT), LIMIT);
        assert.equal(read.length, splitAtWords(text, LIMIT).length, 'one NTE per piece');
        for (const [i, p] of splitAtWords(text, LIMIT).entries()) {assert.equal(read[i], p.replace(/\r\n|[\r\n]/g, '\r\n'), `piece ${i + 1}`);}
      }),
      { numRuns: RUNS },
    );
  });
});
