/*
 * Patient-identifying values of the fixtures and NHS examples the tests send: NHS numbers, names, phone numbers,
 * postcodes, address lines, e-mail addresses, birth dates. Used to prove that none of them ever reaches a log line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { FHIR_PACKAGES_DIR, IG_EXAMPLES_DIR, TKW_DIR } from '../external/nhs-material.js';

const SOURCES = [
  fileURLToPath(new URL('../fixtures/', import.meta.url)),
  IG_EXAMPLES_DIR,
  path.join(TKW_DIR, 'tkw-request-templates-json'),
];

function collect(node: unknown, out: Set<string>): void {
  if (Array.isArray(node)) {
    node.forEach((n) => collect(n, out));
    return;
  }
  if (!node || typeof node !== 'object') {
    return;
  }
  const r = node as Record<string, unknown>;
  if (r.resourceType === 'Patient' || r.resourceType === 'RelatedPerson') {
    for (const id of (r.identifier as Array<{ value?: string }> | undefined) ?? []) {
      if (id.value && /^\d{10}$/.test(id.value)) {
        out.add(id.value);
      }
    }
    if (typeof r.birthDate === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(r.birthDate)) {
      out.add(r.birthDate);
    }
    const people = [r, ...((r.contact as Array<Record<string, unknown>> | undefined) ?? [])];
    for (const person of people) {
      const names = person.name === undefined ? [] : Array.isArray(person.name) ? person.name : [person.name];
      for (const n of names as Array<{ family?: string; given?: string[] }>) {
        for (const part of [n.family, ...(n.given ?? [])]) {
          if (part && part.length >= 4 && !part.startsWith('__')) {
            out.add(part);
          }
        }
      }
      for (const t of (person.telecom as Array<{ system?: string; value?: string }> | undefined) ?? []) {
        if (t.value && (t.value.replace(/\D/g, '').length >= 10 || (t.system === 'email' && t.value.includes('@')))) {
          out.add(t.value);
        }
      }
      const addresses = person.address === undefined ? [] : Array.isArray(person.address) ? person.address : [person.address];
      for (const a of addresses as Array<{ postalCode?: string; line?: string[] }>) {
        if (a.postalCode && a.postalCode.length >= 5) {
          out.add(a.postalCode);
        }
        // House and street lines; short ones ("1", "Flat 2") would match unrelated text.
        for (const line of a.line ?? []) {
          if (line.length >= 8 && !line.startsWith('__')) {
            out.add(line);
          }
        }
      }
    }
  }
  Object.values(r).forEach((v) => collect(v, out));
}

/** The patient TKW's patient_is_traced transform puts into requests (derived/tkw-transform-mutations.json). */
const TKW_TRACED_PATIENT = ['9658218873', 'Meakin', 'DN16 3PL'];

/** The BaRS 1.34.0 package's own examples (package/examples), unpacked once into a temporary folder. */
function packageExamplesDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bars-phi-examples-'));
  execFileSync('tar', ['-xzf', path.join(FHIR_PACKAGES_DIR, 'uk.nhsdigital.bars.r4-1.34.0-snapshots.tgz'), '-C', dir, 'package/examples']);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'package', 'examples');
}

let phi: string[] | undefined;

/** Every patient-identifying value the tests may send: the fixtures, the IG examples, TKW's, the BaRS package's. */
export function fixturePhi(): string[] {
  if (!phi) {
    const out = new Set<string>(TKW_TRACED_PATIENT);
    for (const dir of [...SOURCES, packageExamplesDir()]) {
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
        collect(JSON.parse(readFileSync(path.join(dir, f), 'utf8')), out);
      }
    }
    phi = [...out];
  }
  return phi;
}

/** The lines that carry one of `values`, each with the value found (first 300 characters of the line). */
export function findLeaks(lines: readonly string[], values: readonly string[]): Array<{ value: string; line: string }> {
  return lines.flatMap((line) => values.filter((value) => line.includes(value)).map((value) => ({ value, line: line.slice(0, 300) })));
}
