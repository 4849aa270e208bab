import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConnectionError } from '../../../src/protocol/hl7/transport-errors.js';
import { MllpClient } from '../../../src/protocol/hl7/mllp-client.js';
import { startPasSimulator, type PasSimulator } from '../../../src/dev/pas-sim.js';

const msg = (id: string): string => `MSH|^~\\&|BARS|RXX|PAS|RXX|20260101000000||ADT^A04^ADT_A01|${id}|P|2.4\r`;

describe('MllpClient over TLS', function () {
  this.timeout(10000);
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  let sim: PasSimulator;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bars-mllp-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cert = readFileSync(path.join(dir, 'cert.pem'));
    key = readFileSync(path.join(dir, 'key.pem'));
    sim = await startPasSimulator({ tls: { cert, key } });
  });
  after(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = { host: '127.0.0.1', connectTimeoutMs: 1000, ackTimeoutMs: 1000, keepAlive: true, reconnect: { initialMs: 50, maxMs: 100 } };

  it('sends and matches the ACK over TLS when the PAS certificate is trusted', async () => {
    const client = new MllpClient({ ...base, port: sim.port, tls: { ca: cert } });
    try {
      assert.equal((await client.send(msg('TLS1'), 'TLS1')).code, 'AA');
    } finally {
      await client.close();
    }
  });

  it('refuses an untrusted PAS certificate with ConnectionError', async () => {
    const client = new MllpClient({ ...base, port: sim.port, tls: true });
    try {
      await assert.rejects(client.send(msg('TLS2'), 'TLS2'), ConnectionError);
      assert.equal(sim.received.filter((m) => m.controlId === 'TLS2').length, 0);
    } finally {
      await client.close();
    }
  });
});
