/*
 * Mutual TLS at the receiver's door (BaRS Security/Receiver page: "will only accept requests presented with
 * certificates from their respective chains"; issue 7 §6): a client without a certificate, with one from another CA,
 * with an expired or not-yet-valid one, or with one not on the allow-list never gets an HTTP answer — the handshake
 * fails or the socket is closed — and no request reaches a route (no `request` log line). A certificate on the list,
 * by subject CN or by SHA-256 fingerprint, works. Certificates are re-read on reload(): new files take effect for new
 * handshakes, unreadable ones leave the previous context serving.
 */
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { pino } from 'pino';
import { startHarness, testCerts, type Harness } from '../helpers/harness.js';
import { createCa, issueClientCert, readPem } from '../../src/dev/certs.js';
import { barsHeaders } from '../../src/dev/send.js';
import type { Logger } from '../../src/logging.js';
import { TEST_SERVICE_ID } from '../helpers/harness.js';

interface LogLine {
  msg?: string;
  reason?: string;
  [key: string]: unknown;
}

/** A pino logger writing JSON lines into memory. */
function memoryLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done): void {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream) as unknown as Logger, lines };
}

interface Attempt {
  readonly status?: number;
  readonly error?: string;
  readonly serverSerial?: string;
}

/** One GET /metadata over TLS with the given client credentials (none when cert/key are undefined). */
function attempt(port: number, client: { cert?: string; key?: string; ca: string }): Promise<Attempt> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/metadata',
        method: 'GET',
        servername: 'localhost',
        ca: client.ca,
        cert: client.cert,
        key: client.key,
        agent: false,
        headers: barsHeaders(TEST_SERVICE_ID),
        timeout: 5000,
      },
      (res) => {
        const serverSerial = (res.socket as TLSSocket).getPeerCertificate?.()?.serialNumber;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, serverSerial }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

/** A server certificate for localhost/127.0.0.1 from the given CA (certs.ts only exports client issuance). */
function issueServerCert(caCertPem: string, caKeyPem: string): { cert: string; key: string } {
  const caCert = forge.pki.certificateFromPem(caCertPem);
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = `1${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 30 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(caKeyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

const requestLines = (lines: LogLine[]): LogLine[] => lines.filter((l) => l.msg === 'request');
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

describe('mutual TLS', function () {
  this.timeout(30_000);
  const certs = testCerts();
  const ca = readPem(certs.caCert);
  const caKey = readPem(certs.caKey);
  const good = { cert: readPem(certs.clientCert), key: readPem(certs.clientKey), ca };

  describe('default listener (any certificate of our CA chain)', function () {
    let h: Harness;
    let lines: LogLine[];
    before(async function () {
      const memory = memoryLogger();
      lines = memory.lines;
      h = await startHarness({ log: memory.log });
    });
    after(async function () {
      await h?.close();
    });

    it('a good client certificate gets an answer and a request log line', async function () {
      const before = requestLines(lines).length;
      const res = await attempt(h.port, good);
      assert.equal(res.status, 200, res.error);
      await settle();
      assert.equal(requestLines(lines).length, before + 1);
    });

    const refused: Array<[string, () => { cert?: string; key?: string; ca: string }]> = [
      ['no client certificate', () => ({ ca })],
      [
        'a client certificate from another CA (same subject CN)',
        () => {
          const other = createCa('bars-bridge dev CA'); // same CA name, different key
          return { ...issueClientCert(other.cert, other.key, 'bars-client'), ca };
        },
      ],
      ['an expired client certificate from our CA', () => ({ ...issueClientCert(ca, caKey, 'bars-client', { notBefore: new Date(Date.now() - 10 * 24 * 3600_000), days: 1 }), ca })],
      ['a not-yet-valid client certificate from our CA', () => ({ ...issueClientCert(ca, caKey, 'bars-client', { notBefore: new Date(Date.now() + 24 * 3600_000), days: 30 }), ca })],
      [
        'a self-signed client certificate',
        () => {
          const self = createCa('bars-client');
          return { cert: self.cert, key: self.key, ca };
        },
      ],
    ];
    for (const [label, credentials] of refused) {
      it(`${label}: no HTTP answer, no request reaches a route`, async function () {
        const before = requestLines(lines).length;
        const res = await attempt(h.port, credentials());
        assert.equal(res.status, undefined, `${label} got HTTP ${res.status}`);
        assert.ok(res.error, 'the connection failed');
        await settle();
        assert.equal(requestLines(lines).length, before, `${label} reached a route`);
      });
    }

    it('the receiver still serves a good client after the refusals', async function () {
      assert.equal((await attempt(h.port, good)).status, 200);
    });
  });

  describe('allow-list', function () {
    const other = issueClientCert(ca, caKey, 'bars-client-other');
    const third = issueClientCert(ca, caKey, 'bars-client-third');
    const thirdFingerprint = new X509Certificate(third.cert).fingerprint256; // AA:BB:… form

    let h: Harness;
    let lines: LogLine[];
    before(async function () {
      const memory = memoryLogger();
      lines = memory.lines;
      h = await startHarness({
        log: memory.log,
        config: { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert, allow: ['bars-client-other', thirdFingerprint.replace(/:/g, '').toLowerCase()] } },
      });
    });
    after(async function () {
      await h?.close();
    });

    it('a chain-valid certificate whose CN is not on the list: no HTTP answer, refusal logged as not-allow-listed', async function () {
      const res = await attempt(h.port, good);
      assert.equal(res.status, undefined, `got HTTP ${res.status}`);
      await settle();
      assert.ok(lines.some((l) => l.msg === 'client certificate refused' && l.reason === 'not-allow-listed'), 'refusal logged');
    });

    it('a chain-valid certificate not on the list never reaches a route', async function () {
      const before = requestLines(lines).length;
      const headers: Record<string, string> = { ...barsHeaders(TEST_SERVICE_ID), 'Content-Type': 'application/fhir+json' };
      const res = await new Promise<Attempt>((resolve) => {
        const req = https.request(
          { host: '127.0.0.1', port: h.port, path: '/$process-message', method: 'POST', servername: 'localhost', ...good, agent: false, headers },
          (r) => {
            r.resume();
            r.on('end', () => resolve({ status: r.statusCode }));
          },
        );
        req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code }));
        req.end('{"resourceType":"Bundle"}');
      });
      assert.equal(res.status, undefined);
      await settle();
      assert.equal(requestLines(lines).length, before, 'no request log line');
    });

    it('a certificate on the list by subject CN works', async function () {
      const before = requestLines(lines).length;
      const res = await attempt(h.port, { ...other, ca });
      assert.equal(res.status, 200, res.error);
      await settle();
      assert.equal(requestLines(lines).length, before + 1);
    });

    it('a certificate on the list by SHA-256 fingerprint works', async function () {
      assert.equal((await attempt(h.port, { ...third, ca })).status, 200);
    });

    it('a certificate from another CA with an allowed CN is still refused (the chain is checked first)', async function () {
      const foreign = createCa('elsewhere');
      const res = await attempt(h.port, { ...issueClientCert(foreign.cert, foreign.key, 'bars-client-other'), ca });
      assert.equal(res.status, undefined);
    });
  });

  describe('certificate reload', function () {
    let dir: string;
    let h: Harness;
    let lines: LogLine[];
    const files = (): { cert: string; key: string; ca: string } => ({
      cert: path.join(dir, 'server.crt'),
      key: path.join(dir, 'server.key'),
      ca: path.join(dir, 'ca.crt'),
    });

    before(async function () {
      dir = mkdtempSync(path.join(os.tmpdir(), 'bars-mtls-reload-'));
      copyFileSync(certs.serverCert, files().cert);
      copyFileSync(certs.serverKey, files().key);
      copyFileSync(certs.caCert, files().ca);
      const memory = memoryLogger();
      lines = memory.lines;
      h = await startHarness({ log: memory.log, config: { tls: { ...files(), allow: [] } } });
    });
    after(async function () {
      await h?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a new server certificate and a CA file widened with a second CA take effect for new handshakes after reload()', async function () {
      const first = await attempt(h.port, good);
      assert.equal(first.status, 200, first.error);

      const ca2 = createCa('bars-bridge second CA');
      const client2 = { ...issueClientCert(ca2.cert, ca2.key, 'bars-client-2'), ca };
      assert.equal((await attempt(h.port, client2)).status, undefined, 'CA2 client refused before the reload');

      const server2 = issueServerCert(ca, caKey);
      writeFileSync(files().cert, server2.cert);
      writeFileSync(files().key, server2.key);
      writeFileSync(files().ca, `${ca}\n${ca2.cert}`);
      h.running.receiver!.reload();
      assert.ok(lines.some((l) => l.msg === 'tls certificates reloaded'));

      const after = await attempt(h.port, good);
      assert.equal(after.status, 200, after.error);
      assert.notEqual(after.serverSerial, first.serverSerial, 'the new server certificate is served');
      assert.equal(after.serverSerial?.toLowerCase(), new X509Certificate(server2.cert).serialNumber.toLowerCase());
      assert.equal((await attempt(h.port, client2)).status, 200, 'CA2 client accepted after the reload');
    });

    it('unreadable or broken files on reload(): the previous certificates keep serving', async function () {
      const client = good;
      const before = await attempt(h.port, client);
      assert.equal(before.status, 200, before.error);
      writeFileSync(files().cert, 'not a certificate');
      h.running.receiver!.reload();
      assert.ok(lines.some((l) => l.msg === 'tls reload failed; keeping the previous certificates'));
      const still = await attempt(h.port, client);
      assert.equal(still.status, 200, still.error);
      assert.equal(still.serverSerial, before.serverSerial);
      rmSync(files().key);
      h.running.receiver!.reload();
      assert.equal((await attempt(h.port, client)).status, 200);
    });
  });
});
