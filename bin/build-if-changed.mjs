#!/usr/bin/env node
// `npm start` builds only when the sources changed (issue 11; `npm run build` passes --always): a hash of every file the build reads (src/, the
// tsconfigs, package-lock.json) is kept beside the output, and tsc runs (incrementally) only when it differs.
// A content hash rather than mtimes, because git checkouts, copies and clock changes move mtimes without changing
// what tsc would produce. Plain JavaScript: it must run before there is any compiled output.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = path.join(root, 'dist', '.build-hash');
const inputs = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];

function walk(rel) {
  for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = path.join(rel, entry.name);
    if (entry.isDirectory()) {
      walk(child);
    } else {
      inputs.push(child);
    }
  }
}
walk('src');

const hash = createHash('sha256');
for (const file of inputs.sort()) {
  hash.update(file).update('\0').update(readFileSync(path.join(root, file))).update('\0');
}
const digest = hash.digest('hex');

const cli = path.join(root, 'dist/src/bin/cli.js');
const always = process.argv.includes('--always');
const built = !always && existsSync(stamp) && existsSync(cli) && readFileSync(stamp, 'utf8') === digest;
if (built) {
  process.stdout.write('build: up to date (sources unchanged)\n');
} else {
  process.stdout.write('build: compiling TypeScript (tsc -p tsconfig.build.json)\n');
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', 'dist/.tsbuildinfo'], { cwd: root, stdio: 'inherit' });
  // The package's `bars-bridge` bin (npx bars-bridge, an installed package's .bin link) runs this file directly: tsc
  // writes it without the execute bit.
  chmodSync(cli, 0o755);
  // Files the code serves as they are (the console's CSS): tsc copies only what it compiles.
  cpSync(path.join(root, 'src/console/static'), path.join(root, 'dist/src/console/static'), { recursive: true });
  writeFileSync(stamp, digest);
}
