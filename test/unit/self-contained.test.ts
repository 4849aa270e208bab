/*
 * Issue 11: the repository stands on its own. A clone in any folder, with nothing beside it, must test, build and
 * run, so no code, test, benchmark, CI script or npm script may name a path outside the repository: NHS England's
 * material is vendored under test/external/nhs/ (SOURCES.md) and reached through test/external/nhs-material.ts.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCANNED = ['src', 'test', 'bench', '.ci', 'bin', 'deploy', 'package.json', '.mocharc.cjs', 'Procfile'];
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'external']);
const TEXT = /\.(ts|js|cjs|mjs|json|sh|yaml|yml)$|^(run|bars-node|Procfile|Dockerfile)$/;

/** Known places outside the repository that an earlier layout read from. */
const OUTSIDE_NAMES = [/\/work\//, /\.\.\/shared\b/, /\bshared\/(external-cases|reference|design)\b/];
/** Absolute paths under roots where a developer's checkout or data would live (system paths such as /usr, /proc, /tmp are fine). */
const ABSOLUTE = /["'`](\/(?:work|home|root|mnt|srv|opt|Users|workspace|data)\/[^"'`\s]*)/g;
/** Relative paths in string literals: each must stay inside the repository from where the file sits (or, for src/, from dist/ where it runs). */
const RELATIVE = /["'`]((?:\.\.\/)+[^"'`\s$]*)/g;

export function outsideReferences(relFile: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    const at = `${relFile}:${i + 1}`;
    for (const re of OUTSIDE_NAMES) {
      if (re.test(line)) {
        found.push(`${at}: ${line.trim()}`);
      }
    }
    for (const m of line.matchAll(ABSOLUTE)) {
      found.push(`${at}: absolute path ${m[1]}`);
    }
    for (const m of line.matchAll(RELATIVE)) {
      const dir = path.dirname(relFile);
      const bases = relFile.startsWith('src/') ? [dir, path.join('dist', dir)] : [dir];
      const inside = bases.some((base) => !path.normalize(path.join(base, m[1]!)).startsWith('..'));
      if (!inside) {
        found.push(`${at}: ${m[1]} leaves the repository`);
      }
    }
  });
  return found;
}

function walk(rel: string, out: string[]): void {
  const abs = path.join(ROOT, rel);
  let st;
  try {
    st = statSync(abs);
  } catch {
    return;
  }
  if (st.isDirectory()) {
    for (const name of readdirSync(abs)) {
      if (!SKIPPED_DIRS.has(name)) {
        walk(path.join(rel, name), out);
      }
    }
  } else if (TEXT.test(path.basename(rel))) {
    out.push(rel);
  }
}

describe('self-contained repository (issue 11)', () => {
  it('finds each kind of outside reference (the check can fail)', () => {
    // The probes are assembled so that this file does not itself name the places it looks for.
    const shared = ['shared', ''].join('/');
    assert.ok(outsideReferences('test/x.ts', `const A = '/work/${shared}external-cases/a.json';`).length > 0);
    assert.ok(outsideReferences('test/x.ts', `readFileSync('../${shared}reference/spec.md')`).length > 0);
    assert.equal(outsideReferences('bench/x.ts', "const B = '/home/me/bars/examples';").length, 1);
    assert.equal(outsideReferences('test/unit/x.ts', "new URL('../../../sibling/x.json', import.meta.url)").length, 1);
    assert.deepEqual(outsideReferences('test/unit/x.ts', "import { a } from '../../src/a.js';"), []);
    assert.deepEqual(outsideReferences('src/bin/cli.ts', "new URL('../../../package.json', import.meta.url)"), []);
  });

  it('no source, test, benchmark, CI or npm script reads a path outside the repository', () => {
    const files: string[] = [];
    SCANNED.forEach((rel) => walk(rel, files));
    assert.ok(files.length > 100, `scanned only ${files.length} files`);
    const found = files.filter((f) => f !== 'test/unit/self-contained.test.ts').flatMap((f) => outsideReferences(f, readFileSync(path.join(ROOT, f), 'utf8')));
    assert.deepEqual(found, []);
  });

  it('every vendored file is listed in test/external/nhs/SOURCES.md', () => {
    const sources = readFileSync(path.join(ROOT, 'test/external/nhs/SOURCES.md'), 'utf8');
    const dir = path.join(ROOT, 'test/external/nhs');
    for (const sub of readdirSync(dir).filter((n) => statSync(path.join(dir, n)).isDirectory())) {
      assert.ok(sources.includes(`\`${sub}/\``), `SOURCES.md does not describe ${sub}/`);
      for (const f of readdirSync(path.join(dir, sub)).filter((n) => statSync(path.join(dir, sub, n)).isFile())) {
        assert.ok(sources.includes(f.replace(/\.xml$/, '.json')) || sub === 'tkw', `SOURCES.md does not name ${sub}/${f}`);
      }
    }
  });
});
