/*
 * FHIR R4 typing of a resource as JSON, before anything reads it: every element is one of its type's elements (FHIR
 * R4 StructureDefinitions, fhir-elements.generated.ts), repeats exactly when the definition says so, and every
 * primitive has its JSON representation (R4 JSON format: strings for string, code, uri, date…; numbers for integer
 * and decimal; true/false for boolean) with the format of `id`, `date`, `dateTime`, `instant` and `time`. Also the
 * invariants a JSON parser does not enforce: ele-1 ("All FHIR elements must have a @value or children": no empty
 * string, object or array, no null) and ext-1 (an extension has a value or nested extensions, not both).
 *
 * A wrong type is 400 REC_BAD_REQUEST naming the element, where it would otherwise reach code that expects the type
 * (a number where an NHS number is read as text: 500) or a Redis key (an id `x:versions`, which names another key).
 * Runs on every request over the whole Bundle in one walk (it also collects the references), so the path is only
 * spelled out when something is wrong.
 */
import { badRequest } from './errors.js';
import { FHIR_ELEMENTS, FHIR_PRIMITIVE_TYPES, FHIR_RESOURCE_TYPES } from './fhir-elements.generated.js';

/** FHIR id: "Any combination of upper- or lower-case ASCII letters, numerals, '-' and '.', with a length limit of 64". */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

// R4 datatypes page regular expressions.
const YEAR = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?';
const ZONE = '(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))';
const FORMATS: Record<string, RegExp> = {
  id: FHIR_ID,
  date: new RegExp(`^${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`),
  dateTime: new RegExp(`^${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T${TIME}${ZONE})?)?)?$`),
  instant: new RegExp(`^${YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T${TIME}${ZONE}$`),
  time: new RegExp(`^${TIME}$`),
};

/**
 * Property names that are no FHIR element and that JavaScript gives a meaning: refused wherever they appear, so they
 * are never stored, echoed, or merged into an object.
 */
export const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const MAX_DEPTH = 40;
const INT32 = 2_147_483_647;

const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

type Kind = 'complex' | 'resource' | 'string' | 'boolean' | 'integer' | 'positiveInt' | 'unsignedInt' | 'decimal';

interface ElementType {
  readonly type: string;
  readonly kind: Kind;
  readonly repeats: boolean;
  readonly format: RegExp | undefined;
}

const RESOURCE_TYPES = new Set(FHIR_RESOURCE_TYPES);
const PRIMITIVES = new Set(FHIR_PRIMITIVE_TYPES);

function kindOf(type: string): Kind {
  if (type === 'Resource') {
    return 'resource';
  }
  if (!PRIMITIVES.has(type)) {
    return 'complex';
  }
  switch (type) {
    case 'boolean':
    case 'integer':
    case 'positiveInt':
    case 'unsignedInt':
    case 'decimal':
      return type;
    default:
      return 'string';
  }
}

/** Element tables by type name, compiled on first use (Maps: no inherited names such as `toString`). */
const compiled = new Map<string, ReadonlyMap<string, ElementType> | undefined>();

function elementsOf(type: string): ReadonlyMap<string, ElementType> | undefined {
  if (compiled.has(type)) {
    return compiled.get(type);
  }
  const raw = Object.hasOwn(FHIR_ELEMENTS, type) ? FHIR_ELEMENTS[type] : undefined;
  const table = raw
    ? new Map(
        Object.entries(raw).map(([name, spec]) => {
          const repeats = spec.endsWith('*');
          const t = repeats ? spec.slice(0, -1) : spec;
          return [name, { type: t, kind: kindOf(t), repeats, format: FORMATS[t] }];
        }),
      )
    : undefined;
  compiled.set(type, table);
  return table;
}

const jsonKind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

const WANT: Record<Exclude<Kind, 'complex' | 'resource'>, string> = {
  string: 'a JSON string',
  boolean: 'true or false',
  integer: 'a whole number',
  positiveInt: 'a whole number of 1 or more',
  unsignedInt: 'a whole number of 0 or more',
  decimal: 'a JSON number',
};

function primitiveOk(v: unknown, el: ElementType): boolean {
  switch (el.kind) {
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'decimal':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return Number.isInteger(v) && Math.abs(v as number) <= INT32;
    case 'positiveInt':
      return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= INT32;
    case 'unsignedInt':
      return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= INT32;
    default:
      return false;
  }
}

/**
 * A walk over one JSON value. `path` holds the segments from the root given to check(); `resources` the positions in
 * `path` where a resource starts, so that errors name the element relative to its resource (`Patient.name[0].family`)
 * as well as from the root (the OperationOutcome's expression).
 */
class TypeWalk {
  private readonly path: Array<string | number>;
  private readonly resources: Array<{ at: number; type: string }> = [];
  /** Names the thing checked when it is not a resource path itself (a header). */
  private readonly label: string;

  constructor(
    root: string,
    private readonly references: Set<string>,
  ) {
    this.path = [root];
    this.label = RESOURCE_TYPES.has(root) ? '' : `${root}: `;
  }

  private expression(): string {
    return this.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
  }

  private element(): string {
    const r = this.resources[this.resources.length - 1];
    if (!r || r.at === 0) {
      return this.expression();
    }
    return [r.type, ...this.path.slice(r.at)].map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
  }

  private fail(issue: 'structure' | 'value', why: string): never {
    throw badRequest(issue, `${this.label}${this.element()} ${why}`, this.expression());
  }

  resource(value: unknown): void {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.fail('structure', `must be a FHIR resource (a JSON object), not ${jsonKind(value)}`);
    }
    const type = (value as { resourceType?: unknown }).resourceType;
    if (typeof type !== 'string' || !RESOURCE_TYPES.has(type)) {
      this.path.push('resourceType');
      this.fail('structure', 'must name a FHIR R4 resource type');
    }
    this.resources.push({ at: this.path.length, type });
    this.complex(value as Record<string, unknown>, type, true);
    this.resources.pop();
  }

  private complex(obj: Record<string, unknown>, type: string, isResource: boolean): void {
    if (this.path.length > MAX_DEPTH) {
      this.fail('structure', 'is nested deeper than any FHIR resource');
    }
    const elements = elementsOf(type);
    let count = 0;
    let hasValue = false;
    for (const key in obj) {
      count++;
      if (isResource && key === 'resourceType') {
        continue;
      }
      this.path.push(key);
      if (FORBIDDEN_NAMES.has(key)) {
        this.fail('structure', 'is not a FHIR element name');
      }
      const value = obj[key];
      if (key.charCodeAt(0) === 0x5f /* _ */) {
        // The id and extensions of a primitive (`_family` for `family`).
        const el = elements?.get(key.slice(1));
        if (!el || el.kind === 'complex' || el.kind === 'resource') {
          this.fail('structure', `is not an element of ${type}`);
        }
        this.primitiveExtras(value, el.repeats);
      } else {
        const el = elements?.get(key);
        if (!el) {
          this.fail('structure', `is not an element of ${type} (FHIR R4)`);
        }
        if (key.startsWith('value') && type === 'Extension') {
          hasValue = true;
        }
        this.elementValue(value, el);
      }
      this.path.pop();
    }
    if (count === 0) {
      this.fail('structure', 'has no value or children (FHIR ele-1)');
    }
    if (type === 'Extension' && hasValue === (Array.isArray(obj.extension) && obj.extension.length > 0)) {
      this.fail('structure', 'must have either a value or nested extensions (FHIR ext-1)');
    }
  }

  private elementValue(value: unknown, el: ElementType): void {
    if (value === null) {
      this.fail('structure', 'is null');
    }
    if (!el.repeats) {
      if (Array.isArray(value)) {
        this.fail('structure', `does not repeat: it must be ${el.kind === 'complex' || el.kind === 'resource' ? 'an object' : WANT[el.kind]}, not an array`);
      }
      this.one(value, el);
      return;
    }
    if (!Array.isArray(value)) {
      this.fail('structure', `repeats: it must be a JSON array, not ${jsonKind(value)}`);
    }
    if (value.length === 0) {
      this.fail('structure', 'is an empty array (FHIR ele-1)');
    }
    for (let i = 0; i < value.length; i++) {
      this.path.push(i);
      if (value[i] === null) {
        this.fail('structure', 'is null');
      }
      this.one(value[i], el);
      this.path.pop();
    }
  }

  private one(value: unknown, el: ElementType): void {
    switch (el.kind) {
      case 'resource':
        this.resource(value);
        return;
      case 'complex':
        if (typeof value !== 'object' || Array.isArray(value)) {
          this.fail('structure', `must be a ${el.type} (a JSON object), not ${jsonKind(value)}`);
        }
        this.complex(value as Record<string, unknown>, el.type, false);
        if (el.type === 'Reference') {
          this.reference((value as { reference?: unknown }).reference);
        }
        return;
      default:
        if (!primitiveOk(value, el)) {
          this.fail('value', `must be ${WANT[el.kind]} (FHIR ${el.type}), not ${jsonKind(value)}`);
        }
        if (typeof value === 'string') {
          if (value.trim() === '') {
            this.fail('structure', 'is empty (FHIR ele-1)');
          }
          if (LONE_SURROGATE.test(value)) {
            // A FHIR string is "a sequence of Unicode characters" (R4 §2.24.0.1); half of a surrogate pair is not one,
            // and nothing downstream (Redis scripts' JSON, HL7 text) can carry it.
            this.fail('value', 'contains half of a UTF-16 surrogate pair, which is not a Unicode character (FHIR string)');
          }
          if (FORBIDDEN_CONTROL.test(value)) {
            // FHIR R4 string (§2.24.0.1): "Strings SHALL NOT contain Unicode character points below 32, except for
            // u0009 (horizontal tab), u0010 (carriage return) and u0013 (line feed)". Tab, CR and LF are carried.
            this.fail('value', 'contains a control character other than tab, carriage return or line feed (FHIR string)');
          }
          if (el.format && !el.format.test(value)) {
            this.fail('value', `is not a valid FHIR ${el.type}`);
          }
        }
    }
  }

  /** Reference.reference strings are collected for id assignment (receiver-ids.ts). */
  private reference(ref: unknown): void {
    if (typeof ref === 'string') {
      this.references.add(ref);
    }
  }

  /** `_element`: an Element (id, extension), or for a repeating primitive an array of them and nulls. */
  private primitiveExtras(value: unknown, repeats: boolean): void {
    const element: ElementType = { type: 'Element', kind: 'complex', repeats: false, format: undefined };
    if (!repeats) {
      this.elementValue(value, element);
      return;
    }
    if (!Array.isArray(value) || value.length === 0) {
      this.fail('structure', 'must be a non-empty JSON array of objects and nulls');
    }
    for (let i = 0; i < value.length; i++) {
      if (value[i] !== null) {
        this.path.push(i);
        this.one(value[i], element);
        this.path.pop();
      }
    }
  }

  /** A value of a named data type (e.g. an Identifier in a header). */
  dataType(value: unknown, type: string): void {
    this.one(value, { type, kind: kindOf(type), repeats: false, format: FORMATS[type] });
  }
}

/**
 * Checks a resource and everything in it (contained and Bundle entry resources too).
 * @param root - how errors name the top (`Bundle`, or a header name).
 * @returns every Reference.reference string met on the way.
 */
export function checkResource(resource: unknown, root: string, references: Set<string> = new Set()): Set<string> {
  new TypeWalk(root, references).resource(resource);
  return references;
}

/** Checks a value of a FHIR data type (e.g. `Identifier`). */
export function checkDataType(value: unknown, type: string, root: string): void {
  new TypeWalk(root, new Set()).dataType(value, type);
}
