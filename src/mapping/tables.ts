/*
 * Value tables: code translation kept as data in mappings/tables/*.yaml (FHIR gender → PID-8 Administrative Sex,
 * use case → PV1-2 Patient Class, …). Like the inverse ConceptMaps of the HL7 v2-to-FHIR IG, each table is one-way and
 * chooses one target code per source code; a code with no entry and no `default` is a mapping error, never a blank.
 */

/** A loaded value table. */
export interface ValueTable {
  readonly id: string;
  readonly description: string;
  /** Exact source code → target code. */
  readonly exact: ReadonlyMap<string, string>;
  /** `prefix*` patterns (e.g. `a1t*` for every 111/999/CAS → ED use case), longest prefix first. */
  readonly prefixes: ReadonlyArray<readonly [string, string]>;
  readonly default: string | undefined;
  /** `file:line` of the table, for explain output and errors. */
  readonly where: string;
}

/** Target code for `code`, or undefined when the table has no entry and no default. */
export function lookup(table: ValueTable, code: string): string | undefined {
  const hit = table.exact.get(code);
  if (hit !== undefined) {return hit;}
  for (const [prefix, target] of table.prefixes) {if (code.startsWith(prefix)) {return target;}}
  return table.default;
}

/** Builds a table from its parsed `map` entries (keys ending in `*` are prefixes). */
export function makeTable(
  id: string,
  description: string,
  entries: ReadonlyArray<readonly [string, string]>,
  dflt: string | undefined,
  where: string,
): ValueTable {
  const exact = new Map<string, string>();
  const prefixes: Array<[string, string]> = [];
  for (const [k, v] of entries) {
    if (k.endsWith('*')) {prefixes.push([k.slice(0, -1), v]);}
    else {exact.set(k, v);}
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  return { id, description, exact, prefixes, default: dflt, where };
}
