/*
 * FHIRPath compilation: every expression of every rule file is compiled once at load time (fhirpath.js `compile`,
 * ~7× faster than `evaluate` per message, anchors §5.5) and probed once against an empty environment, because
 * fhirpath.js only reports unknown functions and undefined `%variables` when an expression runs.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { probeEnvironment, USER_FUNCTIONS } from './context.js';
import { simplePathAccessor } from './simple-path.js';
import type { CompiledExpression } from './types.js';

const OPTIONS = { userInvocationTable: USER_FUNCTIONS } as unknown as Parameters<typeof fhirpath.compile>[2];

/**
 * Compiles `source`; on failure pushes `where: <what is wrong>` to `problems` and returns undefined.
 * `variables` are the names (besides the built-in context variables) the expression may use at this place.
 */
export function compileExpression(
  source: string,
  where: string,
  variables: Iterable<string>,
  problems: string[],
): CompiledExpression | undefined {
  let fn: (resource: unknown, env: Record<string, unknown>) => unknown;
  try {
    fn = fhirpath.compile(source, r4, OPTIONS) as unknown as typeof fn;
  } catch (err) {
    problems.push(`${where}: FHIRPath does not parse: ${firstLine(err)} (in: ${source})`);
    return undefined;
  }
  try {
    fn({ resourceType: 'Bundle' }, probeEnvironment(variables));
  } catch (err) {
    problems.push(`${where}: FHIRPath fails on an empty Bundle: ${firstLine(err)} (in: ${source})`);
    return undefined;
  }
  const general = fn as CompiledExpression['evaluate'];
  // A plain member path is walked directly (simple-path.ts), with fhirpath.js where the model could matter.
  return { source, where, evaluate: simplePathAccessor(source, general) ?? general, reads: readsOf(source) };
}

/** Functions whose result is not a function of the input (the clock) or that do something besides (trace). */
const IMPURE = /\b(?:now|today|timeOfDay|trace)\s*\(/;

/**
 * The `%names` an expression reads, or undefined when its result may differ between two runs on the same focus and
 * variables. Over-approximates (a `%` inside a string literal counts too), which only costs a cache miss; a quoted
 * variable name (`%\`x\`` or `%'x'`) is not worth reading, so such expressions are never reused.
 */
export function readsOf(source: string): string[] | undefined {
  if (IMPURE.test(source) || /%[`']/.test(source)) {return undefined;}
  return [...new Set(Array.from(source.matchAll(/%([A-Za-z_][A-Za-z0-9_]*)/g), (m) => m[1]))];
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
