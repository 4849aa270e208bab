import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

// bin/bars-node holds the memory settings of every bars-bridge process (issue 7); they only apply if every way of
// starting one goes through it.
describe('bin/bars-node (process memory settings)', function () {
  it('is how npm start and every Procfile process run', function () {
    const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start;
    assert.match(start, /bin\/bars-node dist\/src\/bin\/cli\.js start/);
    const lines = readFileSync('Procfile', 'utf8').split('\n').filter((l) => l.trim());
    assert.ok(lines.length > 0);
    for (const line of lines) {assert.match(line, /^\w+: bin\/bars-node /, line);}
  });

  it('starts node with the young-generation and heap limits and the malloc threshold', function () {
    const out = execFileSync('bin/bars-node', ['-e', 'console.log(JSON.stringify([process.execArgv, process.env.MALLOC_MMAP_THRESHOLD_]))'], {
      env: { PATH: process.env.PATH, NODE: process.execPath },
    }).toString();
    const [argv, threshold] = JSON.parse(out) as [string[], string];
    assert.ok(argv.includes('--max-semi-space-size=8'), argv.join(' '));
    assert.ok(argv.includes('--max-old-space-size=512'), argv.join(' '));
    assert.equal(threshold, '32768');
  });
});
