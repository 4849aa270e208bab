/*
 * Child process of the graceful-shutdown test: a receiver and worker in one process, as `bars-bridge start` runs
 * them, against the test Redis under the prefix and PAS the parent gives in the environment. Prints one JSON line
 * `{"port": …}` once listening; SIGTERM is handled by runtime.shutdownOnSignals (exit 0, or 1 past the bound).
 */
import { loadConfig, type DeepPartial } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/logging.js';
import { DEV_SLOTS, shutdownOnSignals, start } from '../../../src/runtime.js';

const env = process.env;
const config = loadConfig({ NODE_ENV: 'test' }, {
  dataDir: env.CHILD_DATA_DIR!,
  logLevel: 'warn',
  http: { host: '127.0.0.1', port: 0 },
  admin: { host: '127.0.0.1', port: 0 },
  pas: { host: '127.0.0.1', port: Number(env.CHILD_PAS_PORT), simulator: false },
  pasEvents: { port: 0 },
  tls: { cert: env.CHILD_TLS_CERT!, key: env.CHILD_TLS_KEY!, ca: env.CHILD_TLS_CA! },
  redis: { url: env.TEST_REDIS_URL!, prefix: env.CHILD_PREFIX!, embedded: false },
  service: { ids: ['2000072489'] },
  slots: DEV_SLOTS,
  retention: { enabled: false },
} as DeepPartial<Config>);
const running = await start({ web: true, worker: true, config, log: createLogger('warn') });
shutdownOnSignals(running, { timeoutMs: Number(env.CHILD_SHUTDOWN_MS ?? 15_000) });
process.stdout.write(`${JSON.stringify({ port: running.receiver!.port })}\n`);
