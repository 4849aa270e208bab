/*
 * One bars-bridge process for the end-to-end benchmarks and the reliability tests: `web` (mTLS listener only),
 * `worker` (inbound mapping, sequencer, delivery lanes to an external PAS — no simulator) or `both`, through the real
 * `start()` of src/runtime.ts, like the Procfile's processes. Configuration comes from environment variables so the
 * parent can start several on one Redis:
 *
 *   BENCH_ROLE=web|worker|both  BENCH_REDIS_URL  BENCH_PREFIX ({bench})  BENCH_PORT (0 = any)  BENCH_PAS_PORT
 *   BENCH_QUEUES_DIR (delivery.yaml; default queues/)  BENCH_DATA_DIR  BENCH_ACK_TIMEOUT_MS (PAS ACK timeout; default 30 s)
 *
 * Prints one line `ready {"port":…,"pid":…}` on stdout once started; SIGTERM stops it gracefully.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging.js';
import { DEV_SLOTS, start } from '../src/runtime.js';
import { testCertsIn } from './certs.js';

const env = process.env;
const role = env.BENCH_ROLE ?? 'both';
const certs = testCertsIn();
const dataDir = env.BENCH_DATA_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'bars-proc-'));
const config = loadConfig(
  { NODE_ENV: 'test' },
  {
    dataDir,
    logLevel: (env.BENCH_LOG_LEVEL ?? 'silent') as never,
    http: { host: '127.0.0.1', port: Number(env.BENCH_PORT ?? 0) },
    admin: { host: '127.0.0.1', port: 0 },
    pas: { host: '127.0.0.1', port: Number(env.BENCH_PAS_PORT ?? 2576), simulator: false },
    pasEvents: { port: 0 },
    tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert },
    redis: { url: env.BENCH_REDIS_URL!, prefix: env.BENCH_PREFIX ?? '{bench}', embedded: false, cluster: env.BENCH_REDIS_CLUSTER === '1' },
    service: { ids: ['2000072489'] },
    slots: DEV_SLOTS,
    ...(env.BENCH_QUEUES_DIR ? { queuesDir: env.BENCH_QUEUES_DIR } : {}),
    ...(env.BENCH_ACK_TIMEOUT_MS
      ? { destinations: [{ name: 'pas', kind: 'mllp', host: '127.0.0.1', port: Number(env.BENCH_PAS_PORT ?? 2576), ackTimeoutMs: Number(env.BENCH_ACK_TIMEOUT_MS) }] }
      : {}),
  } as never,
);
const running = await start({ web: role !== 'worker', worker: role !== 'web', config, log: createLogger(config.logLevel) });
let stopping = false;
process.on('SIGTERM', () => {
  if (!stopping) {
    stopping = true;
    void running.stop().then(() => process.exit(0));
  }
});
process.stdout.write(`ready ${JSON.stringify({ port: running.receiver?.port ?? 0, pid: process.pid, role })}\n`);
