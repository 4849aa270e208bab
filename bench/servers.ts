/*
 * Servers for the acknowledgement-path benchmark, each run in its own process so the load generator does not share
 * its event loop: `receiver` (bars-bridge web only, on the given Redis) and `baseline` (Express 5 + the same mTLS,
 * parsing the JSON body and answering 200 — the floor any receiver pays).
 */
import https from 'node:https';
import express from 'express';
import { loadConfig } from '../src/config/load.js';
import { readPem } from '../src/dev/certs.js';
import { createLogger } from '../src/logging.js';
import { DEV_SLOTS, start } from '../src/runtime.js';
import { testCertsIn } from './certs.js';

const [kind, portArg, redisUrl] = process.argv.slice(2);
const certs = testCertsIn();
const port = Number(portArg);

// CPU time of this process so far (user + system, µs), on request: the bench divides its difference by the requests.
process.on('SIGUSR2', () => {
  const u = process.cpuUsage();
  process.stdout.write(`cpu ${u.user + u.system}\n`);
});

if (kind === 'baseline') {
  const app = express();
  app.post('/$process-message', express.json({ type: () => true, limit: 5 * 1024 * 1024 }), (req, res) => {
    res.setHeader('X-Request-Id', String(req.headers['x-request-id']));
    res.status(200).json({ resourceType: 'Bundle', id: (req.body as { id?: string }).id, type: 'message' });
  });
  const server = https.createServer(
    { cert: readPem(certs.serverCert), key: readPem(certs.serverKey), ca: readPem(certs.caCert), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    app,
  );
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
} else {
  const config = loadConfig(
    // Production, as a trust runs it: the checks production makes (identity, allow-list, PAS, tokens) are satisfied
    // with bench values, so the receiver measured is the production receiver (issue 14 refuses development defaults).
    {
      NODE_ENV: 'production',
      ADMIN_TOKEN: 'bench-admin-token-0123456789',
      BARS_SERVICE_NAME: 'bars-bridge (bench)',
      BARS_REFERENCE_SYSTEM: 'https://bench.example.nhs.uk/Id/bars-reference',
      BARS_ODS_CODE: 'RBENCH',
      BARS_SERVICE_ID: '2000072489,2000099999',
      BARS_TLS_ALLOW_ANY_CLIENT: 'true',
      PAS_MLLP_HOST: '127.0.0.1',
      PAS_EVENTS: 'off',
    },
    {
      logLevel: 'silent',
      http: { host: '127.0.0.1', port },
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert },
      redis: { url: redisUrl!, prefix: '{bench}' },
      admin: { port: 0, token: 'bench-admin-token-0123456789' },
      slots: DEV_SLOTS,
    } as never,
  );
  const running = await start({ web: true, worker: false, config, log: createLogger('silent') });
  process.once('SIGTERM', () => void running.stop().then(() => process.exit(0)));
  process.stdout.write(`ready ${port}\n`);
}
