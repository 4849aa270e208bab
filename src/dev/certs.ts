/*
 * Development certificates: a private CA, a server certificate for localhost and a client certificate standing in
 * for the BaRS proxy's (`bars-client`). Generated with node-forge (pure JS) so `npm start` needs no openssl.
 * Production uses certificates under the NHS Root CA (BaRS Security/Receiver page) via BARS_TLS_*.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';

export interface DevCertPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export function devCertPaths(dataDir: string): DevCertPaths {
  const dir = path.join(dataDir, 'certs');
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    clientCert: path.join(dir, 'client.crt'),
    clientKey: path.join(dir, 'client.key'),
  };
}

interface Issued {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

function serial(): string {
  return forge.util.bytesToHex(forge.random.getBytesSync(16)).replace(/^[89a-f]/, '1');
}

function issue(
  commonName: string,
  options: { issuer?: Issued; ca?: boolean; days?: number; notBefore?: Date; altNames?: string[]; usage?: 'server' | 'client' },
): Issued {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(cert.validity.notBefore.getTime() + (options.days ?? 825) * 24 * 3600_000);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'bars-bridge dev' }];
  cert.setSubject(subject);
  cert.setIssuer(options.issuer ? options.issuer.cert.subject.attributes : subject);
  const extensions: object[] = [{ name: 'basicConstraints', cA: !!options.ca }];
  if (options.ca) {
    extensions.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true });
  } else {
    extensions.push({ name: 'keyUsage', digitalSignature: true, keyEncipherment: true });
    extensions.push({ name: 'extKeyUsage', serverAuth: options.usage === 'server', clientAuth: options.usage === 'client' });
  }
  if (options.altNames) {
    extensions.push({
      name: 'subjectAltName',
      altNames: options.altNames.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    });
  }
  cert.setExtensions(extensions);
  cert.sign(options.issuer?.key ?? keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

const pem = (i: Issued): { cert: string; key: string } => ({
  cert: forge.pki.certificateToPem(i.cert),
  key: forge.pki.privateKeyToPem(i.key),
});

/** Issues a client certificate from the dev CA (tests use this for expired, other-CA and allow-list cases). */
export function issueClientCert(
  caCertPem: string,
  caKeyPem: string,
  commonName: string,
  options: { days?: number; notBefore?: Date } = {},
): { cert: string; key: string } {
  const issuer: Issued = { cert: forge.pki.certificateFromPem(caCertPem), key: forge.pki.privateKeyFromPem(caKeyPem) as forge.pki.rsa.PrivateKey };
  return pem(issue(commonName, { issuer, usage: 'client', ...options }));
}

/** Creates a standalone CA (tests: a client from another CA must be refused). */
export function createCa(commonName: string): { cert: string; key: string } {
  return pem(issue(commonName, { ca: true, days: 3650 }));
}

/**
 * Ensures the dev CA, server and client certificates exist under `<dataDir>/certs`, generating what is missing.
 * @returns their paths.
 */
export function ensureDevCerts(dataDir: string): DevCertPaths {
  const p = devCertPaths(dataDir);
  if ([p.caCert, p.caKey, p.serverCert, p.serverKey, p.clientCert, p.clientKey].every((f) => existsSync(f))) {
    return p;
  }
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const ca = issue('bars-bridge dev CA', { ca: true, days: 3650 });
  const server = issue('localhost', { issuer: ca, usage: 'server', altNames: ['localhost', '127.0.0.1'] });
  const client = issue('bars-client', { issuer: ca, usage: 'client' });
  for (const [file, content] of [
    [p.caCert, pem(ca).cert],
    [p.caKey, pem(ca).key],
    [p.serverCert, pem(server).cert],
    [p.serverKey, pem(server).key],
    [p.clientCert, pem(client).cert],
    [p.clientKey, pem(client).key],
  ] as const) {
    writeFileSync(file, content, { mode: file.endsWith('.key') ? 0o600 : 0o644 });
  }
  return p;
}

export { readPem } from '../config/pem.js';
