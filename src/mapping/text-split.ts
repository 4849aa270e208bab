/*
 * Free text over a position's length goes on in NTE segments (`overflow: nte`, hl7-writer.ts). A PAS shows each NTE-3
 * as one line, and one that joins them gets the text back; so the pieces are cut where a person would wrap a line:
 *
 *  - only after a space or a line break (a break opportunity), never between two characters of one word; a word
 *    longer than the limit is the one exception, and it is cut at the limit ("15 minute|s" was such a cut);
 *  - the space or line break at a cut stays at the END of the piece before it, so the pieces joined give the text
 *    exactly (no whitespace added or lost: HL7 v2.4 §2.8.45 TX lets the display drop trailing spaces, and a reader
 *    that concatenates loses nothing); a CR LF pair is never parted (it would read back as two line breaks);
 *  - lengths are characters (Unicode code points), as HL7 counts them; no piece splits a character.
 *
 * A break opportunity is an ordinary space, a tab or a line break (CR, LF, NEL, LS, PS) and the Unicode spaces of
 * category Zs except the no-break ones (U+00A0, U+2007, U+202F), which a writer uses to keep words together.
 */

/** The characters after which a piece may end. */
export const BREAK_AFTER = /^[\t\n\r \u0085\u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000]$/u;

const breaksAfter = (c: string | undefined): boolean => c !== undefined && BREAK_AFTER.test(c);

/**
 * `text` in pieces of at most `limit` characters, cut only at word boundaries (see the module comment); the pieces
 * joined are `text`. A text within the limit is one piece.
 */
export function splitAtWords(text: string, limit: number): string[] {
  if (!Number.isInteger(limit) || limit < 1) {throw new RangeError(`limit must be a positive integer, got ${limit}`);}
  const cps = [...text];
  if (cps.length <= limit) {return [text];}
  const pieces: string[] = [];
  let start = 0;
  while (cps.length - start > limit) {
    const end = start + limit;
    // The last word start in the window (a space or line break before it), so the next piece begins with a word;
    // else (the window ends inside a run of spaces longer than the rest of the line) the last space in it, not
    // inside CR LF.
    let cut = 0;
    for (let q = end; q > start && cut === 0; q--) {if (breaksAfter(cps[q - 1]) && !breaksAfter(cps[q])) {cut = q;}}
    for (let q = end; q > start && cut === 0; q--) {if (breaksAfter(cps[q - 1]) && !(cps[q - 1] === '\r' && cps[q] === '\n')) {cut = q;}}
    if (cut === 0) {
      // No space in the window: it is (the rest of) one word. If the word ends right at the limit, the cut is at
      // its end; otherwise the word is longer than the limit and is cut there. A CR LF at the window's edge goes
      // whole into the next piece.
      cut = cps[end - 1] === '\r' && cps[end] === '\n' && end - 1 > start ? end - 1 : end;
    }
    pieces.push(cps.slice(start, cut).join(''));
    start = cut;
  }
  pieces.push(cps.slice(start).join(''));
  return pieces;
}
