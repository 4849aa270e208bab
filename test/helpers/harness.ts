/*
 * Starts a real receiver for a test: the mTLS listener on a free loopback port, the Redis of the test run
 * (TEST_REDIS_URL) under a key prefix of its own, dev certificates in a temp dir. Requests go over real mutual TLS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig, merge, type DeepPartial } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { ensureDevCerts, readPem, type DevCertPaths } from '../../src/dev/certs.js';
import { request, barsHeaders, type SendResult } from '../../src/dev/send.js';
import type { Logger } from '../../src/logging.js';
import { capturingLogger } from './log-sink.js';
import { start, DEV_SLOTS, type Running } from '../../src/runtime.js';
import { freePort } from '../../src/dev/redis-child.js';

export const TEST_SERVICE_ID = '2000072489';

let sharedCerts: DevCertPaths | undefined;
/** One set of dev certificates for the whole run (RSA key generation is slow). */
export function testCerts(): DevCertPaths {
  if (!sharedCerts) {
    const dir = path.join(os.tmpdir(), 'bars-bridge-test-certs');
    sharedCerts = ensureDevCerts(dir);
  }
  return sharedCerts;
}

export interface Harness {
  readonly url: string;
  readonly port: number;
  readonly config: Readonly<Config>;
  readonly running: Running;
  readonly certs: DevCertPaths;
  /** Sends a request over mTLS with the dev client certificate. */
  send(method: string, path: string, headers?: Record<string, string>, body?: string | Buffer): Promise<SendResult>;
  /** Standard BaRS headers for this receiver. */
  headers(ids?: { requestId?: string; correlationId?: string }): Record<string, string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly worker?: boolean;
  readonly config?: DeepPartial<Config>;
  readonly log?: Logger;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const certs = testCerts();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bars-harness-'));
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!redisUrl) {
    throw new Error('TEST_REDIS_URL is not set: run tests through mocha (test/setup.ts starts Redis)');
  }
  // Section by section: an override of one field (redis.commandTimeoutMs) must not drop the harness's other fields
  // of that section (a shallow spread once sent a test to the machine's Redis on 6379 under the default prefix).
  const config = loadConfig(
    { NODE_ENV: 'test' },
    merge(
      {
        dataDir,
        logLevel: 'silent',
        http: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        pas: { host: '127.0.0.1', port: await freePort(), simulator: true },
        pasEvents: { port: 0 },
        tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert },
        redis: { url: redisUrl, prefix: `{t-${randomUUID().slice(0, 8)}}`, embedded: false },
        service: { ids: [TEST_SERVICE_ID] },
        slots: DEV_SLOTS,
      } as DeepPartial<Config>,
      options.config,
    ),
  );
  const log = options.log ?? capturingLogger();
  const running = await start({ web: true, worker: options.worker ?? false, config, log });
  const port = running.receiver!.port;
  const url = `https://127.0.0.1:${port}`;
  const tlsOptions = { url, ca: readPem(certs.caCert), cert: readPem(certs.clientCert), key: readPem(certs.clientKey) };
  return {
    url,
    port,
    config: running.config,
    running,
    certs,
    send: (method, p, headers = {}, body) => request(tlsOptions, method, p, headers, body),
    headers: (ids) => barsHeaders(TEST_SERVICE_ID, ids),
    close: async () => {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
