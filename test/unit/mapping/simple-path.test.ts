/*
 * The compiled accessors of simple paths (src/mapping/simple-path.ts) answer exactly what fhirpath.js answers: every
 * simple-path expression of mappings/, as the mappings evaluate it (same focus, same environment) over every NHS
 * example message Bundle and generated FHIR-valid variations of them, is also run through fhirpath.js and compared.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { Bundle } from '../../../src/protocol/bars/types.js';
import { loadMappings } from '../../../src/mapping/index.js';
import { USER_FUNCTIONS } from '../../../src/mapping/context.js';
import { simplePathAccessor, type Evaluate } from '../../../src/mapping/simple-path.js';
import { exampleFiles, loadJson, prepare } from '../../helpers/bars-examples.js';
import { throughTheDoor } from '../../helpers/door.js';
import { applyVariation, variation, type Variation } from '../../helpers/fhir-variations.js';

const OPTIONS = { userInvocationTable: USER_FUNCTIONS } as unknown as Parameters<typeof fhirpath.compile>[2];
const general = (source: string): Evaluate => fhirpath.compile(source, r4, OPTIONS) as unknown as Evaluate;
const withoutNulls = (r: unknown[]): unknown[] => r.filter((x) => x !== null && x !== undefined);

interface Expr {
  source: string;
  evaluate: Evaluate;
}

describe('simple-path accessors = fhirpath.js', function () {
  this.timeout(120_000);

  it('answers only for plain member paths, and leaves type filters, functions and keywords to fhirpath.js', function () {
    const g = general('status');
    for (const s of ['status', 'name.family', '%patient.birthDate', '%index']) {
      assert.ok(simplePathAccessor(s, g), s);
    }
    for (const s of ['Patient.name', 'name.first()', "iif(a, b, c)", 'a | b', '%resource.id', '%context', 'true', 'name[0]', "%`x`.y"]) {
      assert.equal(simplePathAccessor(s, g), undefined, s);
    }
  });

  it('gives what fhirpath.js gives for choice types, primitive extensions, numbers, nested arrays and absent members', function () {
    const obs = { resourceType: 'Observation', status: 'final', valueQuantity: { value: 3.5, unit: 'mg' }, code: { coding: [{ code: 'a' }, { code: 'b' }] } };
    const patient = { resourceType: 'Patient', _birthDate: { extension: [{ url: 'x', valueString: 'y' }] }, name: [{ family: 'F', given: ['A', 'B'] }, { given: ['C'] }], multipleBirthInteger: 2 };
    const env = { patient, obs, index: 3 };
    const cases: Array<[string, unknown]> = [
      ['value', obs],
      ['status', obs],
      ['code.coding.code', obs],
      ['%obs.value', {}],
      ['%obs.valueQuantity.value', {}],
      ['%patient.birthDate', {}],
      ['%patient.name.given', {}],
      ['%patient.name.family', {}],
      ['%patient.multipleBirth', {}],
      ['%patient.gender', {}],
      ['%index', {}],
      ['family', patient.name[1]],
      ['given', 'a string focus'],
    ];
    for (const [source, focus] of cases) {
      const g = general(source);
      const fast = simplePathAccessor(source, g)!;
      assert.deepEqual(withoutNulls(fast(focus, env)), withoutNulls(g(focus, env)), source);
    }
  });

  it('over every NHS example and 300 generated variations, every simple-path evaluation of the mappings matches fhirpath.js', function () {
    const registry = loadMappings('mappings');
    // Wrap each simple expression of the loaded mappings: run the accessor (what the mappings use) and fhirpath.js.
    const seen = new Set<object>();
    const mismatches: string[] = [];
    let compared = 0;
    const walk = (o: unknown, depth: number): void => {
      if (!o || typeof o !== 'object' || depth > 14 || seen.has(o)) {
        return;
      }
      seen.add(o);
      const e = o as Partial<Expr>;
      if (typeof e.evaluate === 'function' && typeof e.source === 'string' && simplePathAccessor(e.source, e.evaluate)) {
        const fast = e.evaluate;
        const slow = general(e.source);
        const source = e.source;
        (o as Expr).evaluate = (focus, env) => {
          const a = fast(focus, env);
          let b: unknown[] | undefined;
          try {
            b = slow(focus, env);
          } catch {
            b = undefined; // the accessor fell back to fhirpath.js, which threw the same way
          }
          compared++;
          try {
            assert.deepEqual(withoutNulls(a), withoutNulls(b ?? []));
          } catch {
            if (mismatches.length < 10) {
              mismatches.push(source); // the source only: values are patient data
            }
          }
          return a;
        };
        return;
      }
      for (const v of Object.values(o)) {
        walk(v, depth + 1);
      }
    };
    for (const m of registry.mappings) {
      walk(m, 0);
    }
    const corpus = exampleFiles().map((f) => prepare(loadJson(f.file)) as Bundle);
    for (const bundle of corpus) {
      throughTheDoor(bundle, registry);
    }
    fc.assert(
      fc.property(fc.record({ example: fc.nat({ max: corpus.length - 1 }), variations: fc.array(variation, { minLength: 1, maxLength: 5 }) }), ({ example, variations }: { example: number; variations: Variation[] }) => {
        const bundle = structuredClone(corpus[example]!);
        for (const v of variations) {
          applyVariation(bundle, v);
        }
        throughTheDoor(bundle, registry);
      }),
      { numRuns: 300 },
    );
    assert.deepEqual(mismatches, []);
    assert.ok(compared > 1000, `the mappings evaluated simple paths (${compared})`);
  });
});
