/*
 * Regenerates the golden cases from the NHS examples: `npx tsx test/unit/mapping/helpers/update-golden.ts [--expected]`.
 * Always rewrites the StoredMessage inputs; with --expected also rewrites the expected outputs from the current
 * engine (review the git diff before committing them: the point of a golden file is that a human checked it).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadMappings } from '../../../../src/mapping/index.js';
import { renderGoldenCase } from '../../../../src/mapping/golden.js';
import { storedMessageFromBundle } from '../../../../src/mapping/stored-message.js';
import { EXAMPLES, readExample } from './examples.js';

const dir = 'mappings';
for (const ex of EXAMPLES) {
  const msg = storedMessageFromBundle(readExample(ex.file), { workflow: ex.workflow });
  for (const m of ex.mappings) {
    mkdirSync(path.join(dir, 'tests', m), { recursive: true });
    writeFileSync(path.join(dir, 'tests', m, `${ex.name}.json`), JSON.stringify(msg, null, 2) + '\n');
  }
}
if (process.argv.includes('--expected')) {
  const registry = loadMappings(dir);
  for (const ex of EXAMPLES) {
    for (const mappingId of ex.mappings) {
      const base = path.join(dir, 'tests', mappingId, ex.name);
      for (const k of ['hl7', 'csv', 'error']) {rmSync(`${base}.${k}`, { force: true });}
      const c = { mappingId, name: ex.name, input: `${base}.json`, expected: '', kind: 'hl7' as const };
      const out = renderGoldenCase(registry, c);
      const kind = out.startsWith('MSH|') ? 'hl7' : out.includes('.yaml:') ? 'error' : 'csv';
      writeFileSync(`${base}.${kind}`, out);
    }
  }
}
