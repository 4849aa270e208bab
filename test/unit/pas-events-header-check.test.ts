import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadConfig, ConfigError } from '../../src/config/load.js';
import { readAck, readMessageHeader } from '../../src/protocol/hl7/header.js';
import { buildAck } from '../../src/protocol/hl7/ack.js';
import { boundedHeader, checkPasEventHeader, ECHO_CAP, MAX_CONTROL_ID } from '../../src/flows/pas-events/header-check.js';

const allowed = new Set(['PAS^RXX']);
const mshOf = (f: string[]): string => `MSH|^~\\&|${f.join('|')}`;
const check = (text: string): ReturnType<typeof checkPasEventHeader> => checkPasEventHeader(readMessageHeader(text), allowed, text.length);

describe('PAS events MSH check (HL7 original acknowledgment mode)', () => {
  it('accepts an allowed sender with a supported type, processing id and version; the sender is the HD namespace ids', () => {
    const r = check(mshOf(['PAS^1.2.3^ISO', 'RXX^x', 'BARS', 'RXX', '20261208', '', 'SIU^S15^SIU_S12', 'C1', 'P', '2.5.1']));
    assert.deepEqual(r, { ok: true, sender: 'PAS^RXX' });
  });

  it('checks the sender before anything else', () => {
    const r = check(mshOf(['ATTACKER', 'RXX', 'BARS', 'RXX', '', '', 'ZZZ^Z99', '', 'X', '9.9']));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'sender-not-allowed');
  });

  it('property: whatever the MSH holds, the answer is never AA-with-junk — only an allowed sender with checked fields passes, and every echoed value is bounded', () => {
    const field = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ maxLength: 400 }), fc.constantFrom('PAS', 'RXX', 'ADT^A04', 'P', '2.4', ''));
    fc.assert(
      fc.property(fc.array(field, { minLength: 0, maxLength: 12 }), (fields) => {
        const clean = fields.map((f) => f.replace(/[|\r\n]/g, ''));
        const text = mshOf(clean);
        const header = readMessageHeader(text);
        const r = checkPasEventHeader(header, allowed, text.length);
        if (r.ok) {
          assert.equal(r.sender, 'PAS^RXX');
          assert.ok(header.controlId.trim().length > 0 && header.controlId.length <= MAX_CONTROL_ID);
        } else {
          assert.ok(['AR', 'AE'].includes(r.code));
        }
        const ack = buildAck(boundedHeader(header), { code: r.ok ? 'AA' : r.code, ackControlId: 'A1', ...(r.ok ? {} : { text: r.text, error: { field: r.field, code: r.hl7Error } }) });
        const bounded = boundedHeader(header);
        for (const v of [bounded.sendingApplication, bounded.sendingFacility, bounded.receivingApplication, bounded.receivingFacility]) {
          assert.ok(v.length <= ECHO_CAP);
        }
        assert.ok(ack.length < 1200, `ACK of ${ack.length}`);
        assert.equal(readAck(ack).code, r.ok ? 'AA' : r.code);
      }),
      { numRuns: 500 },
    );
  });
});

describe('PAS events configuration', () => {
  const prod = {
    NODE_ENV: 'production',
    BARS_TLS_CERT: 'c',
    BARS_TLS_KEY: 'k',
    BARS_TLS_CA: 'a',
    ADMIN_TOKEN: 'a-long-enough-admin-token',
    BARS_SERVICE_NAME: 'Example Trust ED',
    BARS_REFERENCE_SYSTEM: 'https://fhir.example.nhs.uk/Id/bars-reference',
    BARS_ODS_CODE: 'RYE',
    BARS_SERVICE_ID: '2000012345',
    BARS_TLS_ALLOW: 'proxy.int.api.service.nhs.uk',
    PAS_MLLP_HOST: 'pas.example.nhs.uk',
  };

  it('production refuses to start with no PAS_EVENTS_ALLOW unless PAS_EVENTS=off', () => {
    assert.throws(() => loadConfig(prod), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.includes('PAS_EVENTS_ALLOW')));
    assert.equal(loadConfig({ ...prod, PAS_EVENTS: 'off' }).pasEvents.enabled, false);
    assert.deepEqual(loadConfig({ ...prod, PAS_EVENTS_ALLOW: 'EPR^RXX, PAS2^RYY' }).pasEvents.allow, ['EPR^RXX', 'PAS2^RYY']);
  });

  it('defaults: loopback, the simulator sender in development, bounds of issue 14', () => {
    const c = loadConfig({ NODE_ENV: 'development' }).pasEvents;
    assert.deepEqual(
      { host: c.host, allow: c.allow, maxFrameBytes: c.maxFrameBytes, idleTimeoutMs: c.idleTimeoutMs, maxConnections: c.maxConnections, retentionDays: c.retentionDays, enabled: c.enabled },
      { host: '127.0.0.1', allow: ['PAS^RXX'], maxFrameBytes: 1048576, idleTimeoutMs: 60000, maxConnections: 32, retentionDays: 30, enabled: true },
    );
    const host = loadConfig({ BARS_HOST: '0.0.0.0' }).pasEvents.host;
    assert.equal(host, '127.0.0.1', 'no longer follows BARS_HOST');
  });

  it('reads every PAS_EVENTS_* variable and lists bad ones', () => {
    const c = loadConfig({
      PAS_EVENTS_HOST: '10.0.0.5',
      PAS_EVENTS_PORT: '2600',
      PAS_EVENTS_TLS_CERT: 'cert.pem',
      PAS_EVENTS_TLS_KEY: 'key.pem',
      PAS_EVENTS_TLS_CA: 'ca.pem',
      PAS_EVENTS_MAX_FRAME_BYTES: '65536',
      PAS_EVENTS_IDLE_TIMEOUT_MS: '5000',
      PAS_EVENTS_MAX_CONNECTIONS: '4',
      PAS_EVENTS_RETENTION_DAYS: '7',
    }).pasEvents;
    assert.deepEqual([c.host, c.port, c.tls, c.maxFrameBytes, c.idleTimeoutMs, c.maxConnections, c.retentionDays], ['10.0.0.5', 2600, { cert: 'cert.pem', key: 'key.pem', ca: 'ca.pem' }, 65536, 5000, 4, 7]);
    assert.throws(
      () => loadConfig({ PAS_EVENTS_ALLOW: 'NOFACILITYSEPARATOR', PAS_EVENTS_MAX_CONNECTIONS: '0', PAS_EVENTS_TLS_CA: 'ca.pem' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((p) => p.startsWith('pasEvents.allow')) &&
        err.problems.some((p) => p.startsWith('pasEvents.maxConnections')),
    );
    assert.throws(() => loadConfig({ PAS_EVENTS_TLS_CA: 'ca.pem' }), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('pasEvents.tls')));
  });
});
