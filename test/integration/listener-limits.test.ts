/*
 * The mTLS listener's bounds (issue 14 item 2): a connection that never completes its TLS handshake is destroyed
 * after BARS_TLS_HANDSHAKE_TIMEOUT_MS; no more than BARS_MAX_CONNECTIONS connections are held; a 408 REC_TIMEOUT says
 * `Connection: close` and the connection is closed; shutdown does not wait for connections still in their handshake.
 */
import { strict as assert } from 'node:assert';
import net from 'node:net';
import tls from 'node:tls';
import { startHarness, testCerts, type Harness } from '../helpers/harness.js';
import { readPem } from '../../src/dev/certs.js';

/** A raw TCP connection to the listener that never sends a ClientHello; resolves when it is open. */
function silentSocket(port: number): Promise<{ socket: net.Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now() - opened)));
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('mTLS listener bounds', function () {
  this.timeout(30_000);

  describe('handshake timeout and connection cap', function () {
    let h: Harness;
    before(async function () {
      h = await startHarness({ config: { http: { host: '127.0.0.1', port: 0, handshakeTimeoutMs: 300, maxConnections: 3 } } });
    });
    after(async function () {
      await h?.close();
    });

    it('a TCP connection that never sends a ClientHello is destroyed after BARS_TLS_HANDSHAKE_TIMEOUT_MS', async function () {
      const { closed } = await silentSocket(h.port);
      const ms = await Promise.race([closed, sleep(5000).then(() => Infinity)]);
      assert.ok(ms >= 250 && ms < 2000, `closed after ${ms} ms (handshake timeout 300 ms)`);
    });

    it('connections beyond BARS_MAX_CONNECTIONS are closed on arrival; a sender gets in again once they go', async function () {
      const held = await Promise.all([silentSocket(h.port), silentSocket(h.port), silentSocket(h.port)]);
      await sleep(50);
      const extra = await silentSocket(h.port);
      const ms = await Promise.race([extra.closed, sleep(250).then(() => Infinity)]);
      assert.ok(ms < 250, `the 4th connection is closed at once (${ms} ms), before any handshake timeout`);
      await assert.rejects(h.send('GET', '/metadata', h.headers()), 'a full listener takes no request');
      held.forEach((s) => s.socket.destroy());
      await Promise.all(held.map((s) => s.closed));
      await sleep(50);
      assert.equal((await h.send('GET', '/metadata', h.headers())).status, 200);
    });
  });

  describe('408 REC_TIMEOUT', function () {
    let h: Harness;
    before(async function () {
      h = await startHarness({ config: { http: { host: '127.0.0.1', port: 0, requestTimeoutMs: 300 } } });
    });
    after(async function () {
      await h?.close();
    });

    it('a stalled body gets 408 with Connection: close, and the connection is closed', async function () {
      const certs = testCerts();
      const socket = tls.connect({
        host: '127.0.0.1',
        port: h.port,
        servername: 'localhost',
        ca: readPem(certs.caCert),
        cert: readPem(certs.clientCert),
        key: readPem(certs.clientKey),
      });
      socket.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      const closed = new Promise<number>((resolve) => {
        const started = Date.now();
        socket.once('close', () => resolve(Date.now() - started));
      });
      const headers = Object.entries({ ...h.headers(), 'Content-Type': 'application/fhir+json', 'Content-Length': '1000' })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      // Keep-alive is HTTP/1.1's default: without the fix the connection stays open after the 408.
      socket.write(`POST /$process-message HTTP/1.1\r\nHost: localhost\r\n${headers}\r\n{"resourceType":`);
      const ms = await Promise.race([closed, sleep(5000).then(() => Infinity)]);
      assert.match(text, /^HTTP\/1\.1 408 /, text.slice(0, 200));
      assert.match(text, /\r\nConnection: close\r\n/i, text.slice(0, 400));
      assert.match(text, /REC_TIMEOUT/);
      assert.ok(ms < 2000, `connection closed ${ms} ms after the request started (request timeout 300 ms)`);
      socket.destroy();
    });
  });

  describe('shutdown', function () {
    it('stops within 2 s while a connection that never finished its handshake is open', async function () {
      const h = await startHarness();
      const silent = await silentSocket(h.port);
      await sleep(50);
      const started = Date.now();
      await h.close();
      const ms = Date.now() - started;
      assert.ok(ms < 2000, `stopped in ${ms} ms`);
      assert.ok((await Promise.race([silent.closed, sleep(1000).then(() => Infinity)])) < Infinity, 'the silent connection was closed');
    });
  });
});
