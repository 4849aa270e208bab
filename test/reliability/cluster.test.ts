/*
 * Fault (7) of issue 7, second half: the queues on a three-node Redis Cluster started here (redis-server
 * --cluster-enabled yes ×3, redis-cli --cluster create … --cluster-replicas 0 --cluster-yes). The key prefix is a
 * hash tag (`{bars}`), so every key bars-bridge and BullMQ use lives in one slot, on one node.
 *
 * bars-bridge connects with a standalone ioredis client (src/state/redis.ts `new Redis(url)`), not ioredis `Cluster`:
 * it works when REDIS_URL names the node that owns the prefix's slot, and the second test shows what happens when it
 * names another node of the same cluster.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Cluster } from 'ioredis';
import { freePort, isListening } from '../../src/dev/redis-child.js';
import { waitDelivered } from '../../bench/lib.js';
import { sleep, spawnProc, spawnSim, startLoad, statusLine, tempDir, verdictLine, writeQueuesDir, type Proc, type Sim } from './helpers.js';

const PREFIX = '{bars}';

describe('Redis Cluster (three nodes, started here)', function () {
  this.timeout(90_000);
  const tmp = tempDir('cluster');
  const nodes: Array<{ port: number; child: ChildProcess }> = [];
  let owner = 0;
  let other = 0;
  let sim: Sim;
  let cluster: Cluster;
  const procs: Proc[] = [];

  before(async function () {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = path.join(tmp.dir, `n${i}`);
      spawnSync('mkdir', ['-p', dir]);
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
          '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'],
        { stdio: 'ignore' },
      );
      nodes.push({ port, child });
    }
    for (const n of nodes) {
      for (let i = 0; i < 100 && !(await isListening('127.0.0.1', n.port)); i++) {
        await sleep(50);
      }
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
    assert.equal(create.status, 0, create.stdout + create.stderr);
    // Every node must see the whole cluster before clients start (a node that has not yet learnt the slot map answers
    // CLUSTERDOWN, which the listener rightly answers 503).
    for (let i = 0; i < 100; i++) {
      const ok = nodes.every((n) => spawnSync('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout.includes('cluster_state:ok'));
      if (ok) {
        break;
      }
      await sleep(100);
    }
    await sleep(500);
    const slot = Number(spawnSync('redis-cli', ['-p', String(nodes[0]!.port), 'cluster', 'keyslot', PREFIX], { encoding: 'utf8' }).stdout.trim());
    const slots = spawnSync('redis-cli', ['-p', String(nodes[0]!.port), '--json', 'cluster', 'slots'], { encoding: 'utf8' }).stdout;
    const ranges = JSON.parse(slots) as Array<[number, number, [string, number, string]]>;
    owner = ranges.find(([a, b]) => slot >= a && slot <= b)![2][1];
    other = nodes.map((n) => n.port).find((p) => p !== owner)!;
    console.log(`      cluster up on ports ${nodes.map((n) => n.port).join(', ')}; slot of ${PREFIX} is ${slot}, owned by ${owner}`);
    cluster = new Cluster([{ host: '127.0.0.1', port: nodes[0]!.port }]);
    sim = await spawnSim();
  });

  after(async function () {
    for (const p of procs) {
      await p.kill();
    }
    await sim?.stop();
    cluster?.disconnect();
    for (const n of nodes) {
      n.child.kill('SIGTERM');
    }
    await sleep(200);
    tmp.remove();
  });

  it('accepts, maps, sequences and delivers in order with REDIS_URL naming the node that owns the {bars} slot', async function () {
    const common = { redisUrl: `redis://127.0.0.1:${owner}`, prefix: PREFIX, pasPort: sim.port, queuesDir: writeQueuesDir(path.join(tmp.dir, 'queues')), cluster: true };
    const worker = await spawnProc('worker', common);
    const web = await spawnProc('web', common);
    procs.push(worker, web);
    const load = startLoad([web.port], 2, 40);
    await sleep(4000);
    await load.stop();
    const verdict = await waitDelivered(sim, load.acknowledged, cluster, PREFIX, 60_000);
    console.log(`      statuses ${statusLine(load.statuses)}`);
    console.log(`      ${verdictLine(load.tried(), verdict)}`);
    const slot = spawnSync('redis-cli', ['-p', String(owner), 'cluster', 'keyslot', PREFIX], { encoding: 'utf8' }).stdout.trim();
    const keys = spawnSync('redis-cli', ['-p', String(owner), 'cluster', 'countkeysinslot', slot], { encoding: 'utf8' }).stdout.trim();
    const total = nodes.map((n) => Number(spawnSync('redis-cli', ['-p', String(n.port), 'dbsize'], { encoding: 'utf8' }).stdout.trim()));
    console.log(`      keys in the {bars} slot: ${keys}; keys per node: ${total.join(', ')}`);
    assert.ok(load.acknowledged.length > 0);
    assert.deepEqual([...load.statuses.keys()], [200]);
    assert.deepEqual(verdict.lost, []);
    assert.equal(verdict.duplicatedUnderAnotherControlId, 0);
    assert.equal(verdict.outOfOrder, 0);
    await web.stop();
    await worker.stop();
  });

  // REDIS_CLUSTER: the Cluster client follows MOVED, so any node will do.
  it('works with REDIS_URL naming any node of the cluster (a failover or resharding moves the slot)', async function () {
    const sim2 = await spawnSim();
    const common = { redisUrl: `redis://127.0.0.1:${other}`, prefix: PREFIX, pasPort: sim2.port, queuesDir: writeQueuesDir(path.join(tmp.dir, 'queues2')), cluster: true };
    try {
      const web = await spawnProc('web', common);
      procs.push(web);
      const load = startLoad([web.port], 1, 50);
      await sleep(2000);
      await load.stop();
      console.log(`      web on a non-owner node: statuses ${statusLine(load.statuses)}`);
      assert.deepEqual([...load.statuses.keys()], [200]);
    } finally {
      await sim2.stop();
    }
  });
});
