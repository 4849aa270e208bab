/*
 * The production install a trust does (issue 11 §7, deploy/RUNNING-IN-A-TRUST.md): `npm pack`, unpack the tarball in a
 * folder of its own, `npm ci --omit=dev` there (the tarball carries npm-shrinkwrap.json, so the versions installed are
 * the ones tested), then the web and worker process types exactly as the systemd units start them
 * (bin/bars-node dist/src/bin/cli.js start --web | --worker) with the example env files deploy/web.env and
 * deploy/worker.env (NODE_ENV=production), where only hosts, ports and file paths are replaced by the test's own:
 * certificates of a CA of the test's own, a PAS (the simulator), a BaRS proxy (the mock) and a redis-server started
 * with deploy/redis.conf (AOF, noeviction, the bars-bridge ACL user). Both run on one host with the admin ports the env
 * files give them; a second copy on a port in use names the variable to change.
 *
 * Nothing here uses the repository's node_modules at run time: the installed processes see only the unpacked package.
 */
import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureDevCerts, readPem, type DevCertPaths } from '../../src/dev/certs.js';
import { ensureMockProxyKey, startMockProxy, type MockProxy } from '../../src/dev/mock-proxy.js';
import { startPasSimulator, type PasSimulator } from '../../src/dev/pas-sim.js';
import { freePort, isListening } from '../../src/dev/redis-child.js';
import { barsHeaders, request } from '../../src/dev/send.js';
import { fixturePhi } from '../helpers/phi.js';

const run = promisify(execFile);
/** The DoS service id of this install (production refuses the development one, 2000072489). */
const SERVICE_ID = '2000012345';
const REPO = process.cwd();

/** A systemd EnvironmentFile: the variables it sets, and every variable it names (set, or commented out as `#KEY=`). */
function readEnvFile(file: string): { set: Record<string, string>; named: Set<string> } {
  const set: Record<string, string> = {};
  const named = new Set<string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(#?)([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) {
      named.add(m[2]!);
      if (!m[1]) {
        set[m[2]!] = m[3]!;
      }
    }
  }
  return { set, named };
}

/** The env file with the test's hosts, ports and paths; each replaced variable must be one the file names. */
function envFrom(file: string, replace: Record<string, string>): Record<string, string> {
  const { set, named } = readEnvFile(file);
  assert.deepEqual(Object.keys(replace).filter((k) => !named.has(k)), [], `variables the test sets that ${file} does not name`);
  return { ...set, ...replace };
}

/** redis-server with deploy/redis.conf; only the port, the data directory and supervision differ. */
async function startProductionRedis(dir: string): Promise<{ url: (template: string) => string; stop: () => Promise<void> }> {
  const conf = path.resolve('deploy/redis.conf');
  const password = /^user bars-bridge on >(\S+)/m.exec(readFileSync(conf, 'utf8'))?.[1];
  assert.ok(password, 'deploy/redis.conf has the bars-bridge ACL user');
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const child = spawn('redis-server', [conf, '--port', String(port), '--dir', dir, '--supervised', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await isListening('127.0.0.1', port))) {
    assert.ok(child.exitCode === null && Date.now() < deadline, 'redis-server started with deploy/redis.conf');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    // REDIS_URL as the env file writes it, pointed at this server.
    url: (template) => {
      const url = new URL(template);
      url.host = `127.0.0.1:${port}`;
      url.password = password;
      return url.toString();
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

/** Starts one process type from the installed package, as deploy/bars-bridge-*.service does. */
function startInstalled(appDir: string, type: 'web' | 'worker', env: Record<string, string>): Proc {
  const child = spawn(path.join(appDir, 'bin', 'bars-node'), ['dist/src/bin/cli.js', 'start', `--${type}`], {
    cwd: appDir,
    // Only what the env files give, plus PATH and the node binary bin/bars-node runs: nothing of the test's own
    // environment (TEST_REDIS_URL, tsx import hooks) reaches the installed process.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE: process.execPath, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

function getJson(port: number, urlPath: string, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: { text } });
        }
      });
    });
    req.on('error', reject);
  });
}

/** Polls /readyz until it answers 200, the process exits, or the deadline passes. */
async function waitReady(proc: Proc, adminPort: number, token: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`exited (${proc.child.exitCode ?? proc.child.signalCode}) before ready:\n${proc.stderr()}\n${proc.stdout().slice(-3000)}`);
    }
    const r = await getJson(adminPort, '/readyz', token).catch((err: Error) => ({ status: 0, body: { error: err.message } }));
    if (r.status === 200) {
      return r.body;
    }
    last = `${r.status} ${JSON.stringify(r.body)}`;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`not ready after ${timeoutMs} ms (last: ${last}):\n${proc.stderr()}\n${proc.stdout().slice(-3000)}`);
}

describe('production install: npm pack → npm ci --omit=dev → NODE_ENV=production web + worker on one host', function () {
  // npm pack builds (tsc) and npm ci installs from the npm cache or registry: minutes on a loaded machine.
  this.timeout(300_000);
  let dir: string;
  let appDir: string;
  let redis: Awaited<ReturnType<typeof startProductionRedis>>;
  let pas: PasSimulator;
  let proxy: MockProxy;
  let certs: DevCertPaths;
  let tarball: { name: string; files: string[] };
  const procs: Proc[] = [];
  const token = randomBytes(32).toString('hex');
  let webEnv: Record<string, string>;
  let workerEnv: Record<string, string>;
  let web: Proc;
  let worker: Proc;
  let ports: { listener: number; webAdmin: number; workerAdmin: number; pasEvents: number };

  before(async function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bars-prod-install-'));
    const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    await run('npm', ['pack', '--pack-destination', dir], { cwd: REPO, env: npmEnv, maxBuffer: 64 * 1024 * 1024 });
    const name = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(name, 'npm pack wrote a tarball');
    const { stdout: listing } = await run('tar', ['tzf', path.join(dir, name)], { maxBuffer: 64 * 1024 * 1024 });
    tarball = { name, files: listing.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, '')) };
    await run('tar', ['xzf', path.join(dir, name), '-C', dir]);
    appDir = path.join(dir, 'package');
    // --prefer-offline: what the npm cache already holds is not fetched again (the registry is asked for the rest).
    await run('npm', ['ci', '--omit=dev', '--prefer-offline'], { cwd: appDir, env: npmEnv, maxBuffer: 64 * 1024 * 1024 });

    certs = ensureDevCerts(path.join(dir, 'pki'));
    redis = await startProductionRedis(path.join(dir, 'redis'));
    pas = await startPasSimulator({ port: 0 });
    const proxyKey = ensureMockProxyKey(path.join(dir, 'proxy-key'));
    proxy = await startMockProxy({ publicKey: readPem(proxyKey.pubFile), clientId: 'install-test', kid: 'install-1', certs });
    ports = { listener: await freePort(), webAdmin: await freePort(), workerAdmin: await freePort(), pasEvents: await freePort() };
    // The admin ports the env files give (so both process types run on one host) are replaced like every other port.
    assert.equal(readEnvFile('deploy/web.env').set.ADMIN_PORT, '9090');
    assert.equal(readEnvFile('deploy/worker.env').set.ADMIN_PORT, '9091');
    const shared = {
      // The env files' identity stands (production refuses the development one) except the DoS id the test sends to.
      BARS_SERVICE_ID: SERVICE_ID,
      BARS_BASE_URL: `https://localhost:${ports.listener}`,
      BARS_TLS_CERT: certs.serverCert,
      BARS_TLS_KEY: certs.serverKey,
      BARS_TLS_CA: certs.caCert,
      ADMIN_TOKEN: token,
      // The allow-list (required in production): only the test's client certificate (CN bars-client) is let in.
      BARS_TLS_ALLOW: 'bars-client',
      REDIS_URL: redis.url(readEnvFile('deploy/web.env').set.REDIS_URL!),
      PAS_MLLP_HOST: '127.0.0.1',
      PAS_MLLP_PORT: String(pas.port),
    };
    webEnv = envFrom('deploy/web.env', {
      ...shared,
      BARS_HOST: '127.0.0.1',
      BARS_PORT: String(ports.listener),
      ADMIN_PORT: String(ports.webAdmin),
    });
    workerEnv = envFrom('deploy/worker.env', {
      ...shared,
      ADMIN_PORT: String(ports.workerAdmin),
      PAS_EVENTS_HOST: '127.0.0.1',
      PAS_EVENTS_PORT: String(ports.pasEvents),
      // The package's own mappings and queue policy stand in for the trust's copy under /etc/bars-bridge.
      BARS_MAPPINGS_DIR: path.join(appDir, 'mappings'),
      BARS_QUEUES_DIR: path.join(appDir, 'queues'),
      BARS_PROXY_URL: proxy.url,
      BARS_TOKEN_URL: proxy.tokenUrl,
      BARS_CLIENT_ID: 'install-test',
      BARS_KID: 'install-1',
      BARS_PRIVATE_KEY: proxyKey.keyFile,
      BARS_PROXY_CA: certs.caCert,
    });
    assert.equal(webEnv.NODE_ENV, 'production');
    assert.equal(workerEnv.NODE_ENV, 'production');
    web = startInstalled(appDir, 'web', webEnv);
    worker = startInstalled(appDir, 'worker', workerEnv);
    procs.push(web, worker);
  });

  after(async function () {
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    await proxy?.close();
    await pas?.close();
    await redis?.stop();
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('packs dist/, mappings/, queues/ policy files, bin/bars-node and the lock (npm-shrinkwrap.json), and no sources or tests', function () {
    const has = (f: string): boolean => tarball.files.includes(f);
    for (const f of ['dist/src/bin/cli.js', 'dist/src/runtime.js', 'bin/bars-node', 'queues/delivery.yaml', 'queues/inbound.yaml', 'mappings/referral-new.adt-a05.yaml', 'mappings/pas-events/rules.yaml', 'deploy/bars-bridge-web.service', 'deploy/worker.env', 'npm-shrinkwrap.json', 'package.json']) {
      assert.ok(has(f), `${f} in ${tarball.name}`);
    }
    assert.deepEqual(tarball.files.filter((f) => /^(src|test|bench|\.ci|node_modules|\.dev)\//.test(f) || f.startsWith('dist/test/') || f.startsWith('dist/bench/')), []);
    assert.ok(existsSync(path.join(appDir, 'node_modules', 'bullmq')), 'dependencies installed');
    for (const dev of ['mocha', 'tsx', 'eslint', 'fast-check', '@medplum/core']) {
      assert.ok(!existsSync(path.join(appDir, 'node_modules', dev)), `devDependency ${dev} not installed by --omit=dev`);
    }
    process.stdout.write(`      ${tarball.name}: ${tarball.files.length} files\n`);
  });

  it('web and worker both answer /readyz ready on their own admin ports (production: token required, Redis durable)', async function () {
    const startedAt = Date.now();
    const [webReady, workerReady] = await Promise.all([waitReady(web, ports.webAdmin, token, 120_000), waitReady(worker, ports.workerAdmin, token, 120_000)]);
    process.stdout.write(`      both ready ${Date.now() - startedAt} ms after the checks began\n`);
    assert.equal(webReady.status, 'ready');
    assert.equal(workerReady.status, 'ready');
    // deploy/redis.conf as the ACL user bars-bridge: durable, and /readyz may read what it needs (INFO, CONFIG GET).
    const redisCheck = (webReady.checks as { redis: { durable: boolean; aof: boolean; evictionPolicy: string; fsync: string } }).redis;
    assert.deepEqual([redisCheck.durable, redisCheck.aof, redisCheck.evictionPolicy, redisCheck.fsync], [true, true, 'noeviction', 'always']);
    assert.equal((workerReady.checks as Record<string, unknown>)['inbound worker'], true);
    // Production: without the token a probe gets the bare verdict of /readyz (and /healthz), nothing else.
    for (const port of [ports.webAdmin, ports.workerAdmin]) {
      assert.deepEqual(await getJson(port, '/readyz'), { status: 200, body: { status: 'ready' } });
      assert.equal((await getJson(port, '/healthz')).status, 200);
      assert.equal((await getJson(port, '/metrics')).status, 401);
    }
    assert.match(worker.stdout(), /responses worker started/, 'worker sends responses through the configured proxy');
  });

  it('accepts a referral over mutual TLS on the web process and the worker delivers it to the PAS over MLLP', async function () {
    const bundle = JSON.parse(readFileSync('test/fixtures/referral-111-to-ed.json', 'utf8')) as { id: string; entry: Array<{ resource: { destination?: Array<{ endpoint: string }> } }> };
    bundle.id = randomUUID();
    bundle.entry[0]!.resource.destination![0]!.endpoint = `https://fhir.nhs.uk/Id/dos-service-id|${SERVICE_ID}`;
    const tls = { url: `https://127.0.0.1:${ports.listener}`, ca: readPem(certs.caCert), cert: readPem(certs.clientCert), key: readPem(certs.clientKey) };
    const res = await request(tls, 'POST', '/$process-message', { ...barsHeaders(SERVICE_ID), 'Content-Type': 'application/fhir+json' }, JSON.stringify(bundle));
    assert.equal(res.status, 200, res.body.slice(0, 500));
    const deadline = Date.now() + 60_000;
    while (pas.received.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(pas.received.map((m) => m.messageType.split('^').slice(0, 2).join('^')).sort(), ['ADT^A05', 'REF^I12']);
  });

  it('a second process on a port in use stops with one line naming the variable, exit 1, no stack trace', async function () {
    // The case: a worker started with the web process's admin port (same ADMIN_PORT in both env files).
    const cases = [
      { type: 'worker' as const, env: { ...workerEnv, ADMIN_PORT: String(ports.webAdmin), PAS_EVENTS_PORT: String(await freePort()) }, expect: `admin port ${ports.webAdmin} is in use (ADMIN_PORT)` },
      { type: 'web' as const, env: { ...webEnv, ADMIN_PORT: String(await freePort()) }, expect: `BaRS listener port ${ports.listener} is in use (BARS_PORT)` },
      { type: 'worker' as const, env: { ...workerEnv, ADMIN_PORT: String(await freePort()) }, expect: `PAS events port ${ports.pasEvents} is in use (PAS_EVENTS_PORT)` },
    ];
    const results = await Promise.all(
      cases.map(async (c) => {
        const p = startInstalled(appDir, c.type, c.env);
        procs.push(p);
        // A process that does not stop (it found its port free) would otherwise hold the test to its timeout.
        const bound = setTimeout(() => p.child.kill('SIGKILL'), 150_000);
        const exit = await p.exited;
        clearTimeout(bound);
        return { ...c, exit, stderr: p.stderr() };
      }),
    );
    for (const r of results) {
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
      assert.ok(lines[0]!.startsWith(r.expect), `${lines[0]} starts with ${r.expect}`);
      assert.equal(r.exit.code, 1);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    }
    // The running pair is untouched.
    await Promise.all([waitReady(web, ports.webAdmin, token, 10_000), waitReady(worker, ports.workerAdmin, token, 10_000)]);
  });

  it('stops both on SIGTERM with exit 0, and no log line carries patient data', async function () {
    web.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    const [w, k] = await Promise.all([web.exited, worker.exited]);
    assert.deepEqual([w.code, k.code], [0, 0], `${web.stderr()}\n${worker.stderr()}`);
    const phi = fixturePhi();
    const logs = procs.map((p) => p.stdout() + p.stderr()).join('\n');
    assert.deepEqual(phi.filter((value) => logs.includes(value)), []);
  });
});
