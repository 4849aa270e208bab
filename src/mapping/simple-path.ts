/*
 * Compiled accessors for the simplest FHIRPath expressions: a plain member path from the focus or from a %variable
 * (`status`, `name.family`, `%patient.birthDate`). fhirpath.js walks even these through its generic engine (wrapping
 * every node in a ResourceNode, looking each step up in the R4 model, converting the result back): about a third of
 * the expressions a 111→ED referral evaluates are of this kind (issue 18, mapping CPU).
 *
 * The accessor is only an equivalent shortcut of FHIRPath path navigation (FHIRPath N1 §5.1: a member step on a
 * collection is the flattened collection of that member of each item; a primitive has no members), so it answers only
 * where the answer cannot depend on the model. Wherever it could, it hands the whole expression to fhirpath.js:
 *   - a node that is not a plain JSON object or array (a ResourceNode from resolve(), a Date, …);
 *   - a member that is absent while a choice-type sibling (`value` with `valueQuantity`) or a primitive extension
 *     (`_birthDate`) is present: FHIRPath resolves those through the model;
 *   - a member whose value is a JSON number (FHIR decimal/integer: fhirpath.js may type them) or null;
 *   - a %variable the environment does not carry, or one of FHIRPath's own (%context, %resource, %ucum, …).
 * test/unit/mapping/simple-path.test.ts checks accessor = fhirpath.js over every simple expression of mappings/ and
 * every example bundle, and the golden cases check the bytes.
 */

/** `%name.member.member` or `member.member` (lower-case first: an upper-case first step is a type filter in FHIRPath). */
const SIMPLE = /^(?:%([A-Za-z_][A-Za-z0-9_]*)|([a-z][A-Za-z0-9_]*))((?:\.[a-z][A-Za-z0-9_]*)*)$/;

/** Variables FHIRPath defines itself (and fhirpath.js adds): never taken from the environment here. */
const BUILT_IN = new Set(['context', 'resource', 'rootResource', 'ucum', 'sct', 'loinc', 'factory', 'terminologies', 'server']);

/** FHIRPath keywords and literals that look like a member name. */
const KEYWORDS = new Set(['true', 'false', 'and', 'or', 'xor', 'implies', 'is', 'as', 'in', 'contains', 'div', 'mod', 'this', 'index', 'total']);

const FALLBACK = Symbol('fallback');

const isPlain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;

/** Adds `value` (a member's value) to `out`, flattening an array; FALLBACK when fhirpath.js might answer otherwise. */
function collect(value: unknown, out: unknown[]): typeof FALLBACK | undefined {
  if (Array.isArray(value)) {
    for (const v of value) {
      if (v === null || v === undefined || typeof v === 'number' || Array.isArray(v) || (typeof v === 'object' && !isPlain(v))) {
        return FALLBACK;
      }
      out.push(v);
    }
    return undefined;
  }
  if (value === null || typeof value === 'number' || (typeof value === 'object' && !isPlain(value))) {
    return FALLBACK;
  }
  out.push(value);
  return undefined;
}

/** Whether `node` has a sibling FHIRPath would read for an absent `member` (choice type or primitive extension). */
function hasModelSibling(node: Record<string, unknown>, member: string): boolean {
  if (`_${member}` in node) {
    return true;
  }
  for (const k in node) {
    if (k.length > member.length && k.startsWith(member)) {
      const c = k.charCodeAt(member.length);
      if (c >= 65 && c <= 90) {
        return true;
      }
    }
  }
  return false;
}

export type Evaluate = (resource: unknown, env: Record<string | symbol, unknown>) => unknown[];

/**
 * An accessor for `source` falling back to `general` (the fhirpath.js compiled function) where it must, or undefined
 * when `source` is not a simple path.
 */
export function simplePathAccessor(source: string, general: Evaluate): Evaluate | undefined {
  const m = SIMPLE.exec(source.trim());
  if (!m) {
    return undefined;
  }
  const variable = m[1];
  const steps = [...(m[2] ? [m[2]] : []), ...m[3]!.split('.').filter(Boolean)];
  if (steps.some((s) => KEYWORDS.has(s)) || (variable !== undefined && BUILT_IN.has(variable))) {
    return undefined;
  }
  return (focus, env) => {
    let nodes: unknown[];
    if (variable !== undefined) {
      if (!Object.prototype.hasOwnProperty.call(env, variable)) {
        return general(focus, env);
      }
      const value = env[variable];
      if (typeof value === 'number' && steps.length === 0 && Number.isSafeInteger(value)) {
        return [value]; // %index and the like: a whole number, as fhirpath.js gives it back
      }
      nodes = [];
      if (value === undefined || collect(value, nodes) === FALLBACK) {
        return general(focus, env);
      }
    } else {
      nodes = [];
      if (focus === undefined || collect(focus, nodes) === FALLBACK) {
        return general(focus, env);
      }
    }
    for (const step of steps) {
      const next: unknown[] = [];
      for (const node of nodes) {
        if (!isPlain(node)) {
          continue; // a primitive has no members
        }
        const value = node[step];
        if (value === undefined) {
          if (hasModelSibling(node, step)) {
            return general(focus, env);
          }
          continue;
        }
        if (collect(value, next) === FALLBACK) {
          return general(focus, env);
        }
      }
      nodes = next;
    }
    return nodes;
  };
}
