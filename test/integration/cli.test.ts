/*
 * The bars-bridge command line as a whole (issue 11): --help everywhere, usage errors exit 2, a missing Redis is
 * named (URL and prefix, exit 1, no stack trace), and the development Redis that `npm start` records is found.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { loadConfig } from '../../src/config/load.js';
import { freePort, isListening, startRedisChild } from '../../src/dev/redis-child.js';
import { devRedisUrlFile, recordDevRedisUrl } from '../../src/dev/redis-url-file.js';
import { start } from '../../src/runtime.js';
import { runCommand } from '../helpers/cli.js';

/** Every command and sub-command, as the words that name it. */
function commandPaths(): string[][] {
  const quiet = new PassThrough();
  const program = buildProgram({ out: quiet, err: quiet, env: {}, action: () => async () => undefined });
  const paths: string[][] = [];
  const walk = (command: Command, prefix: string[]): void => {
    for (const sub of command.commands) {
      paths.push([...prefix, sub.name()]);
      walk(sub, [...prefix, sub.name()]);
    }
  };
  walk(program, []);
  return paths;
}

const STACK_FRAME = /^\s+at .+[(:]\d+/m;

describe('bars-bridge command line', function () {
  this.timeout(60_000);

  it('--help on every command and sub-command prints its usage and exits 0', async function () {
    const paths = commandPaths();
    assert.ok(paths.length >= 15, `${paths.length} commands`);
    for (const words of [[], ...paths]) {
      const run = await runCommand([...words, '--help'], {});
      assert.equal(run.code, 0, `${words.join(' ')} --help: ${run.err}`);
      assert.match(run.out, new RegExp(`^Usage: bars-bridge ${words.map((w) => `${w} `).join('')}`), words.join(' '));
    }
    for (const [name] of paths.filter((p) => p.length === 1)) {
      assert.equal((await runCommand(['help', name!], {})).code, 0, `help ${name}`);
    }
    const version = await runCommand(['--version'], {});
    assert.equal(version.code, 0);
    assert.equal(version.out, `${(JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version}\n`);
  });

  it('an unknown option, a missing argument or no command at all is a usage error: exit 2, nothing done', async function () {
    for (const argv of [
      ['start', '--webb'],
      ['trace', 'BB-1', '--nope'],
      ['queues', '--nope'],
      ['dead-letters', 'list', '--nope'],
      ['dead-letters', 'audit', '--limit', 'ten'],
      ['dead-letters', 'replay', 'pas', 'm1'],
      ['mappings', 'test', '--nope'],
      ['certs', 'dev', '--nope'],
      ['send'],
      ['dead-letters'],
      ['no-such-command'],
      [],
    ]) {
      const run = await runCommand(argv, {});
      assert.equal(run.code, 2, `${argv.join(' ')}: ${run.out}${run.err}`);
      assert.ok(run.err.length > 0, `${argv.join(' ')} says what is wrong`);
      assert.doesNotMatch(run.err, STACK_FRAME);
    }
  });

  describe('Redis', function () {
    let dir: string;
    let deadUrl: string;
    beforeEach(async function () {
      dir = mkdtempSync(path.join(os.tmpdir(), 'bars-cli-'));
      deadUrl = `redis://127.0.0.1:${await freePort()}`;
    });
    afterEach(function () {
      rmSync(dir, { recursive: true, force: true });
    });

    /** A configuration file with its own data directory and, as the default Redis URL, one nothing answers on. */
    const configFile = (): string => {
      const file = path.join(dir, 'bars.yaml');
      writeFileSync(file, `dataDir: ${path.join(dir, '.dev')}\nredis:\n  url: ${deadUrl}\n`);
      return file;
    };

    it('every command that needs Redis names the URL and prefix it tried when nothing answers: exit 1, no stack trace', async function () {
      for (const argv of [['trace', 'BB-1'], ['queues'], ['queues', '--json'], ['pas-events'], ['dead-letters', 'list'], ['dead-letters', 'show', 'pas', 'm1'], ['dead-letters', 'audit']]) {
        const run = await runCommand(argv, { NODE_ENV: 'test', REDIS_URL: deadUrl, REDIS_PREFIX: '{cli-test}' });
        assert.equal(run.code, 1, `${argv.join(' ')}: ${run.err}`);
        assert.equal(run.out, '', 'nothing on stdout (a --json reader sees no half output)');
        assert.match(run.err, new RegExp(`^cannot reach Redis at ${deadUrl} \\(key prefix \\{cli-test\\}\\): .*ECONNREFUSED`), argv.join(' '));
        assert.doesNotMatch(run.err, STACK_FRAME);
      }
      const option = await runCommand(['queues', '--redis-url', deadUrl.replace('//', '//ops:secret@'), '--redis-prefix', '{other}'], { NODE_ENV: 'test' });
      assert.equal(option.code, 1);
      assert.match(option.err, /cannot reach Redis at redis:\/\/ops:\*\*\*@127\.0\.0\.1:\d+ \(key prefix \{other\}\)/);
      assert.ok(!option.err.includes('secret'), 'the password is not printed');
    });

    it('the installed entry point says the same and exits 1 (no unhandled error from ioredis or BullMQ)', async function () {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/cli.ts', 'queues'], {
        env: { PATH: process.env.PATH, NODE_ENV: 'test', REDIS_URL: deadUrl },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 1, err);
      assert.equal(out, '');
      assert.match(err, new RegExp(`^cannot reach Redis at ${deadUrl} \\(key prefix \\{bars\\}\\)`));
      assert.doesNotMatch(err, STACK_FRAME);
      assert.doesNotMatch(err, /Unhandled/i);
    });

    it('without REDIS_URL the CLI uses the development Redis recorded in <dataDir>/redis/url; a stale record is named', async function () {
      const env = { NODE_ENV: 'test', BARS_CONFIG: configFile() };
      const dataDir = path.join(dir, '.dev');
      recordDevRedisUrl(dataDir, process.env.TEST_REDIS_URL!);
      const found = await runCommand(['queues', '--json'], env);
      assert.equal(found.code, 0, found.err);
      assert.ok(Array.isArray((JSON.parse(found.out) as { queues: unknown[] }).queues));
      assert.equal((await runCommand(['dead-letters', 'list'], env)).code, 0);
      assert.equal((await runCommand(['trace', 'BB-NOT-THERE'], env)).code, 1, 'ran, found nothing');

      const stale = `redis://127.0.0.1:${await freePort()}`;
      recordDevRedisUrl(dataDir, stale);
      const missing = await runCommand(['queues'], env);
      assert.equal(missing.code, 1);
      assert.match(missing.err, new RegExp(`cannot reach Redis at ${deadUrl} \\(key prefix \\{bars\\}\\)`));
      assert.match(missing.err, new RegExp(`also tried ${stale}, recorded in ${devRedisUrlFile(dataDir).replace(/[.\\/]/g, '\\$&')}`));

      // An explicit REDIS_URL is never replaced by the record (the service itself would not use a private Redis then).
      recordDevRedisUrl(dataDir, process.env.TEST_REDIS_URL!);
      const explicit = await runCommand(['queues'], { ...env, REDIS_URL: deadUrl });
      assert.equal(explicit.code, 1);
      assert.doesNotMatch(explicit.err, /also tried/);
    });

    it('npm start records its private Redis when it had to start one, and removes the record on a clean stop', async function () {
      const file = configFile();
      const dataDir = path.join(dir, '.dev');
      const config = loadConfig({ NODE_ENV: 'test', BARS_CONFIG: file }, { tls: { cert: 'unused', key: 'unused', ca: 'unused' }, alerts: { enabled: false } });
      // A record naming a Redis that serves another directory (the test run's) is not this service's child.
      recordDevRedisUrl(dataDir, process.env.TEST_REDIS_URL!);
      const running = await start({ web: false, worker: false, admin: false, config });
      let stopped = false;
      try {
        assert.ok(existsSync(devRedisUrlFile(dataDir)), 'recorded');
        const recorded = readFileSync(devRedisUrlFile(dataDir), 'utf8').trim();
        assert.equal(recorded, running.config.redis.url, 'the URL of the private child the service uses');
        assert.notEqual(recorded, deadUrl);
        assert.notEqual(recorded, process.env.TEST_REDIS_URL);
        const run = await runCommand(['queues'], { NODE_ENV: 'test', BARS_CONFIG: file });
        assert.equal(run.code, 0, run.err);
        assert.match(run.out, /receipt order: 0 received/);
        await running.stop();
        stopped = true;
        assert.ok(!existsSync(devRedisUrlFile(dataDir)), 'removed on a clean stop');
      } finally {
        if (!stopped) {
          await running.stop();
        }
      }
    });

    it('a private Redis an earlier run left running (killed without stopping it) is adopted, not doubled, and stopped on a clean stop', async function () {
      const file = configFile();
      const dataDir = path.join(dir, '.dev');
      const orphan = await startRedisChild(path.join(dataDir, 'redis'));
      try {
        recordDevRedisUrl(dataDir, orphan.url);
        const config = loadConfig({ NODE_ENV: 'test', BARS_CONFIG: file }, { tls: { cert: 'unused', key: 'unused', ca: 'unused' }, alerts: { enabled: false } });
        const running = await start({ web: false, worker: false, admin: false, config });
        try {
          assert.equal(running.config.redis.url, orphan.url, 'the same redis-server: no second one on the same AOF directory');
        } finally {
          await running.stop();
        }
        assert.ok(!existsSync(devRedisUrlFile(dataDir)), 'record removed on a clean stop');
        assert.equal(await isListening('127.0.0.1', orphan.port), false, 'and the adopted server stopped');
      } finally {
        await orphan.kill();
      }
    });
  });
});
