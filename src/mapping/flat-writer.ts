/*
 * Flat-file output: CSV as RFC 4180 describes it (fields with the delimiter, a double quote, CR or LF are quoted;
 * quotes are doubled), with a header row of the column names when the layout asks for one.
 */
import type { ColumnRule, FlatOutput } from './types.js';

function csvField(value: string, delimiter: string): string {
  return value.includes(delimiter) || /["\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Renders rows to CSV text; every line (including the last) ends with the layout's line ending. */
export function writeCsv(layout: FlatOutput, columns: readonly ColumnRule[], rows: readonly string[][]): string {
  const lines: string[] = [];
  if (layout.header) {lines.push(columns.map((c) => csvField(c.name, layout.delimiter)).join(layout.delimiter));}
  for (const row of rows) {lines.push(row.map((v) => csvField(v, layout.delimiter)).join(layout.delimiter));}
  return lines.map((l) => l + layout.lineEnding).join('');
}

/** Parses CSV text written by writeCsv (RFC 4180 quoting), for the layout check and tests. */
export function readCsv(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') {quoted = false;}
      else {cell += ch;}
    } else if (ch === '"' && cell === '') {quoted = true;}
    else if (ch === delimiter) {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      /* CRLF: handled at \n */
    } else if (ch === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else {cell += ch;}
  }
  if (cell !== '' || row.length > 0) {rows.push([...row, cell]);}
  return rows;
}

/** Layout check before the file leaves: column count on every line, header as declared, values read back unchanged. */
export function validateCsv(layout: FlatOutput, columns: readonly ColumnRule[], rows: readonly string[][], text: string): string[] {
  const problems: string[] = [];
  const back = readCsv(text.replace(/\r\n/g, '\n'), layout.delimiter);
  const expected = (layout.header ? 1 : 0) + rows.length;
  if (back.length !== expected) {problems.push(`layout: expected ${expected} lines, read back ${back.length}`);}
  back.forEach((r, i) => {
    if (r.length !== columns.length) {problems.push(`layout: line ${i + 1} has ${r.length} columns, layout has ${columns.length}`);}
  });
  const data = layout.header ? back.slice(1) : back;
  rows.forEach((row, i) =>
    row.forEach((v, j) => {
      if (data[i]?.[j] !== v.replace(/\r\n/g, '\n')) {problems.push(`layout: row ${i + 1} column ${columns[j].name} does not read back as written`);}
    }),
  );
  return problems;
}
