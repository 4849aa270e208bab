/*
 * Development wiring: what `npm start` on a fresh checkout needs so the whole loop runs on one machine with no
 * configuration — a private redis-server (AOF on) when nothing answers at REDIS_URL, development certificates, one
 * open schedule for GET /Slot, the PAS simulator as the PAS, and a mock BaRS proxy (with its OAuth token endpoint)
 * for the asynchronous responses. Production never runs any of it (runtime.ts calls it only outside production).
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { withOverrides } from '../config/load.js';
import type { Logger } from '../logging.js';
import type { StopStack } from '../lifecycle.js';
import { ensureDevCerts, readPem } from './certs.js';
import { ensureMockProxyKey, startMockProxy, type MockProxy } from './mock-proxy.js';
import { startPasSimulator, type PasSimulator } from './pas-sim.js';
import { adoptRedisChild, isListening, startRedisChild } from './redis-child.js';
import { forgetDevRedisUrl, readDevRedisUrl, recordDevRedisUrl } from './redis-url-file.js';

/** One schedule so GET /Slot and bookings work out of the box in development. */
export const DEV_SLOTS: Config['slots'] = [
  {
    healthcareService: '7e0a3e1c-93a5-4a0b-9a43-3f7e1f5d2c11',
    healthcareServiceName: 'Emergency Department (development)',
    dosServiceId: '2000072489',
    locationName: 'Main site',
    timeZone: 'Europe/London',
    hours: { '0': '00:00-23:59', '1': '00:00-23:59', '2': '00:00-23:59', '3': '00:00-23:59', '4': '00:00-23:59', '5': '00:00-23:59', '6': '00:00-23:59' },
    slotMinutes: 30,
    capacity: 1,
    useCases: ['a1t1', 'a1t2', 'a2t1', 'a2t2'],
  },
];

/** A private redis-server when nothing answers at REDIS_URL (adopting one an earlier unclean stop left running). */
async function devRedisUrl(config: Readonly<Config>, log: Logger, stack: StopStack): Promise<string> {
  const url = new URL(config.redis.url);
  if (!config.redis.embedded || (await isListening(url.hostname, Number(url.port || 6379)))) {
    return config.redis.url;
  }
  const childDir = path.join(config.dataDir, 'redis');
  const recorded = readDevRedisUrl(config.dataDir);
  const adopted = recorded ? await adoptRedisChild(recorded, childDir) : undefined;
  const child = adopted ?? (await startRedisChild(childDir));
  stack.push('redis-server child', () => child.stop());
  // The CLI run beside `npm start` finds this Redis through the record (src/dev/redis-url-file.ts); gone on a clean
  // stop, before the child itself stops.
  recordDevRedisUrl(config.dataDir, child.url);
  stack.push('redis-server child record', async () => forgetDevRedisUrl(config.dataDir, child.url));
  if (adopted) {
    log.warn({ port: child.port, dir: child.dir }, 'using the private redis-server an earlier run left running (it was not stopped cleanly)');
  } else {
    log.info({ port: child.port, dir: child.dir }, 'started a private redis-server (AOF on) because nothing answered at REDIS_URL');
  }
  return child.url;
}

/** Dev defaults for things a fresh checkout has not configured: Redis, certificates, slots. */
export async function devDefaults(config: Readonly<Config>, log: Logger, stack: StopStack): Promise<Readonly<Config>> {
  const redisUrl = await devRedisUrl(config, log, stack);
  let tls = config.tls;
  if (!tls.cert || !tls.key || !tls.ca) {
    const certs = ensureDevCerts(config.dataDir);
    tls = { ...tls, cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert };
    log.info({ dir: certs.dir }, 'using development certificates');
  }
  const slots = config.slots.length > 0 ? config.slots : DEV_SLOTS;
  return withOverrides(config, { redis: { url: redisUrl }, tls, slots: [...slots] });
}

export interface DevPeers {
  readonly config: Readonly<Config>;
  readonly pasSimulator?: PasSimulator;
  readonly mockProxy?: MockProxy;
  /** TLS trust for the mock proxy's certificate. */
  readonly proxyTransport?: { ca: string };
}

/** The PAS simulator (when PAS_SIMULATOR is on) and the mock proxy (when no proxy is configured) of a development worker. */
export async function startDevPeers(config: Readonly<Config>, log: Logger, stack: StopStack): Promise<DevPeers> {
  let pasSimulator: PasSimulator | undefined;
  if (config.pas.simulator) {
    if (await isListening(config.pas.host, config.pas.port)) {
      log.warn({ port: config.pas.port }, 'PAS port already in use; not starting the PAS simulator');
    } else {
      const sim = await startPasSimulator({ host: config.pas.host, port: config.pas.port });
      pasSimulator = sim;
      stack.push('PAS simulator', () => sim.close());
      log.info({ port: sim.port }, 'PAS simulator listening (MLLP, ACKs AA)');
    }
  }
  if (config.proxy.url) {
    return { config, ...(pasSimulator ? { pasSimulator } : {}) };
  }
  const { keyFile, pubFile } = ensureMockProxyKey(path.join(config.dataDir, 'mock-proxy'));
  const mock = await startMockProxy({ publicKey: readPem(pubFile), clientId: 'bars-bridge-dev', kid: 'dev-1', certs: ensureDevCerts(config.dataDir) });
  stack.push('mock BaRS proxy', () => mock.close());
  log.info({ url: mock.url }, 'mock BaRS proxy listening (development: responses go here)');
  return {
    config: withOverrides(config, { proxy: { url: mock.url, tokenUrl: mock.tokenUrl, clientId: 'bars-bridge-dev', kid: 'dev-1', privateKey: keyFile } }),
    ...(pasSimulator ? { pasSimulator } : {}),
    mockProxy: mock,
    proxyTransport: { ca: mock.ca },
  };
}
