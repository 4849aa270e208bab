/*
 * Patient-identifying values of the fixtures and NHS examples the tests send: NHS numbers, names, phone numbers,
 * postcodes, birth dates. Used to prove that none of them ever reaches a log line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { IG_EXAMPLES_DIR, TKW_DIR } from '../external/nhs-material.js';

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
      for (const t of (person.telecom as Array<{ value?: string }> | undefined) ?? []) {
        if (t.value && t.value.replace(/\D/g, '').length >= 10) {
          out.add(t.value);
        }
      }
    }
    for (const a of (r.address as Array<{ postalCode?: string }> | undefined) ?? []) {
      if (a.postalCode && a.postalCode.length >= 5) {
        out.add(a.postalCode);
      }
    }
  }
  Object.values(r).forEach((v) => collect(v, out));
}

/** The patient TKW's patient_is_traced transform puts into requests (derived/tkw-transform-mutations.json). */
const TKW_TRACED_PATIENT = ['9658218873', 'Meakin', 'DN16 3PL'];

export function fixturePhi(): string[] {
  const out = new Set<string>(TKW_TRACED_PATIENT);
  for (const dir of SOURCES) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      collect(JSON.parse(readFileSync(path.join(dir, f), 'utf8')), out);
    }
  }
  return [...out];
}
