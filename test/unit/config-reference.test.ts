/*
 * The README "Configuration" reference, the configuration schema and the variables table (src/config/variables.ts)
 * say the same thing: a key or variable added on one side only fails here. And nothing in the code reads a variable
 * the table does not know (it would be reported as unknown at start-up, and refused in production).
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { configSchema } from '../../src/config/schema.js';
import { VARIABLE_ONLY_KEYS } from '../../src/config/load.js';
import { VARIABLES } from '../../src/config/variables.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const HEADER = '| Variable | YAML key | Type | Default | Example | Description |';
const NONE = '—';

interface Row {
  readonly line: number;
  readonly variable?: string;
  readonly key?: string;
  readonly type: string;
}

/** Rows of every reference table in the README's "Configuration" section. */
function readmeRows(): Row[] {
  const lines = readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
  const start = lines.indexOf('## Configuration');
  assert.ok(start >= 0, 'README has a "## Configuration" section');
  const rows: Row[] = [];
  let inTable = false;
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) {
    const line = lines[i]!.trim();
    if (line === HEADER) {
      inTable = true;
      continue;
    }
    if (!inTable || /^\|[-| ]+\|$/.test(line)) {
      continue;
    }
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
    assert.equal(cells.length, 6, `README line ${i + 1}: six cells (${HEADER})`);
    const name = (cell: string, what: string): string | undefined => {
      if (cell === NONE) {
        return undefined;
      }
      const m = /^`([^`]+)`$/.exec(cell);
      assert.ok(m, `README line ${i + 1}: the ${what} cell is one \`name\` or ${NONE}, not "${cell}"`);
      return m[1];
    };
    const variable = name(cells[0]!, 'Variable');
    const key = name(cells[1]!, 'YAML key');
    assert.ok(variable || key, `README line ${i + 1}: a variable, a YAML key or both`);
    rows.push({ line: i + 1, ...(variable ? { variable } : {}), ...(key ? { key } : {}), type: cells[2]! });
  }
  return rows;
}

type Def = { type: string; shape?: Record<string, unknown>; element?: unknown; innerType?: unknown; in?: unknown; options?: unknown[] };
const def = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

/** Leaf keys of a zod schema as the README writes them: `http.port`, `slots[].hours`, `destinations[].tls.ca`. */
function schemaKeys(schema: unknown, at = '', out = new Set<string>()): Set<string> {
  const d = def(schema);
  switch (d.type) {
    case 'object':
      for (const [k, v] of Object.entries(d.shape!)) {
        schemaKeys(v, at ? `${at}.${k}` : k, out);
      }
      break;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      schemaKeys(d.innerType, at, out);
      break;
    case 'pipe':
      schemaKeys(d.in, at, out);
      break;
    case 'union':
      for (const option of d.options!) {
        schemaKeys(option, at, out);
      }
      break;
    case 'array':
      if (['object', 'union'].includes(def(d.element).type)) {
        schemaKeys(d.element, `${at}[]`, out);
      } else {
        out.add(at);
      }
      break;
    default:
      out.add(at);
  }
  return out;
}

const difference = <T>(a: Iterable<T>, b: Set<T>): T[] => [...a].filter((x) => !b.has(x));

describe('configuration reference (README) in step with the schema and the variables table', function () {
  const rows = readmeRows();

  it('documents every YAML key of the schema, and no key the schema lacks', function () {
    const inSchema = new Set([...schemaKeys(configSchema)].filter((k) => !VARIABLE_ONLY_KEYS.includes(k)));
    const inReadme = new Set(rows.flatMap((r) => (r.key ? [r.key] : [])));
    assert.ok(inSchema.size > 90, `schema walk found ${inSchema.size} keys`);
    assert.deepEqual(difference(inSchema, inReadme), [], 'keys in the schema missing from README "Configuration"');
    assert.deepEqual(difference(inReadme, inSchema), [], 'keys in README "Configuration" the schema does not have');
    assert.equal(inReadme.size, rows.filter((r) => r.key).length, 'each key has one row');
  });

  it('documents every variable of the table, with its key and type, and no variable the table lacks', function () {
    const inTable = new Set(VARIABLES.map((v) => v.name));
    const inReadme = new Set(rows.flatMap((r) => (r.variable ? [r.variable] : [])));
    assert.deepEqual(difference(inTable, inReadme), [], 'variables in src/config/variables.ts missing from README "Configuration"');
    assert.deepEqual(difference(inReadme, inTable), [], 'variables in README "Configuration" missing from src/config/variables.ts');
    assert.equal(inReadme.size, rows.filter((r) => r.variable).length, 'each variable has one row');
    for (const v of VARIABLES) {
      const row = rows.find((r) => r.variable === v.name)!;
      const key = v.key && !VARIABLE_ONLY_KEYS.includes(v.key) ? v.key : undefined;
      assert.equal(row.key, key, `README line ${row.line}: ${v.name} sets ${key ?? 'no YAML key'}`);
      assert.equal(row.type.split(' ')[0], v.type, `README line ${row.line}: ${v.name} is of type ${v.type}`);
    }
  });

  it('every variable a key takes from the environment is a key of the schema', function () {
    const keys = schemaKeys(configSchema);
    for (const v of VARIABLES.filter((x) => x.key)) {
      assert.ok(keys.has(v.key!), `${v.name} sets ${v.key}, which the schema does not have`);
    }
  });

  it('nothing in src/, bin/ or bench/ reads a variable the table does not know, nor test/ one of ours or a TEST_ one', function () {
    const known = new Set(VARIABLES.map((v) => v.name));
    const reads = new Map<string, string>();
    for (const [dir, listed] of [['src', /./], ['bench', /./], ['test', /^(BARS_|PAS_|ADMIN_|REDIS_|TEST_)/]] as const) {
      for (const file of walk(path.join(ROOT, dir)).filter((f) => /\.(ts|js|cjs|mjs)$/.test(f))) {
        // Reads of process.env, of an alias of it or of a loader's env object, by property or by string index; not writes.
        const pattern = /\b(?:process\.env|env)(?:\.([A-Z][A-Z0-9_]*)\b|\[['"]([A-Z][A-Z0-9_]*)['"]\])(?!\s*=[^=])/g;
        for (const m of readFileSync(file, 'utf8').matchAll(pattern)) {
          const name = m[1] ?? m[2]!;
          if (listed.test(name)) {
            reads.set(name, path.relative(ROOT, file));
          }
        }
      }
    }
    for (const file of walk(path.join(ROOT, 'bin'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)) {
        reads.set(m[1]!, path.relative(ROOT, file));
      }
    }
    assert.ok(reads.has('BARS_ACTOR') && reads.has('TEST_REDIS_URL') && reads.has('BARS_MAX_OLD_SPACE_MB'), 'the scan finds reads');
    const unknown = [...reads].filter(([name]) => !known.has(name)).map(([name, file]) => `${name} (${file})`);
    assert.deepEqual(unknown, [], 'variables read but missing from src/config/variables.ts (and README "Configuration")');
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? (name === 'node_modules' ? [] : walk(full)) : [full];
  });
}
