/*
 * FHIRPath compilation: every expression of every rule file is compiled once at load time (fhirpath.js `compile`,
 * ~7× faster than `evaluate` per message, anchors §5.5) and probed once against an empty environment, because
 * fhirpath.js only reports unknown functions and undefined `%variables` when an expression runs.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { probeEnvironment, USER_FUNCTIONS } from './context.js';
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
  return { source, where, evaluate: fn as CompiledExpression['evaluate'] };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
