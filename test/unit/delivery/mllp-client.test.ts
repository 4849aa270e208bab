import assert from 'node:assert/strict';
import net from 'node:net';
import { AckMismatchError, AckTimeoutError, ConnectionError } from '../../../src/protocol/hl7/transport-errors.js';
import { MllpClient, type MllpClientOptions } from '../../../src/protocol/hl7/mllp-client.js';
import { MllpDecoder, encodeFrame } from '../../../src/protocol/hl7/mllp-framing.js';
import { freePort } from '../../../src/dev/redis-child.js';
import { startPasSimulator, type PasSimulator } from '../../../src/dev/pas-sim.js';

const msg = (id: string): string => `MSH|^~\\&|BARS|RXX|PAS|RXX|20260101000000||ADT^A04^ADT_A01|${id}|P|2.4\rPID|1||943\r`;

function options(port: number, extra: Partial<MllpClientOptions> = {}): MllpClientOptions {
  return {
    host: '127.0.0.1',
    port,
    connectTimeoutMs: 500,
    ackTimeoutMs: 200,
    keepAlive: true,
    reconnect: { initialMs: 20, maxMs: 200 },
    ...extra,
  };
}

describe('MllpClient', () => {
  let sim: PasSimulator;
  let client: MllpClient | undefined;

  beforeEach(async () => {
    sim = await startPasSimulator();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await sim.close();
  });

  it('returns the ACK whose MSA-2 matches MSH-10, reusing one connection', async () => {
    client = new MllpClient(options(sim.port));
    const first = await client.send(msg('C1'), 'C1');
    const second = await client.send(msg('C2'), 'C2');
    assert.equal(first.code, 'AA');
    assert.equal(first.controlId, 'C1');
    assert.match(first.raw, /^MSH\|/);
    assert.equal(second.controlId, 'C2');
    assert.equal(sim.connections(), 1);
    assert.deepEqual(sim.received.map((m) => m.controlId), ['C1', 'C2']);
  });

  it('returns AE and AR with MSA-3 text instead of throwing (policy is the caller’s)', async () => {
    sim.setScenario({ decide: (i) => ({ kind: 'ack', code: i.controlId === 'E1' ? 'AE' : 'AR', text: 'no bed' }) });
    client = new MllpClient(options(sim.port));
    const ae = await client.send(msg('E1'), 'E1');
    const ar = await client.send(msg('R1'), 'R1');
    assert.equal(ae.code, 'AE');
    assert.equal(ae.text, 'no bed');
    assert.equal(ar.code, 'AR');
  });

  it('rejects an ACK whose MSA-2 is another control id with AckMismatchError', async () => {
    sim.setScenario({ decide: () => ({ kind: 'wrong-control-id' }) });
    client = new MllpClient(options(sim.port));
    await assert.rejects(client.send(msg('M1'), 'M1'), (err: unknown) => {
      assert.ok(err instanceof AckMismatchError);
      assert.equal(err.receivedControlId, 'M1X');
      return true;
    });
  });

  it('rejects with AckTimeoutError when the PAS never answers, then works on a fresh connection', async () => {
    sim.setScenario({ decide: (i) => (i.controlId === 'T1' ? { kind: 'silent' } : undefined) });
    client = new MllpClient(options(sim.port, { ackTimeoutMs: 100 }));
    const started = Date.now();
    await assert.rejects(client.send(msg('T1'), 'T1'), AckTimeoutError);
    assert.ok(Date.now() - started >= 95);
    const ack = await client.send(msg('T2'), 'T2');
    assert.equal(ack.code, 'AA');
    assert.equal(sim.connections(), 2, 'the timed-out connection is dropped so a late ACK cannot be paired');
  });

  it('rejects with ConnectionError when the PAS closes the connection before answering', async () => {
    sim.setScenario({ decide: (i) => (i.controlId === 'D1' ? { kind: 'drop' } : undefined) });
    client = new MllpClient(options(sim.port));
    await assert.rejects(client.send(msg('D1'), 'D1'), (err: unknown) => {
      assert.ok(err instanceof ConnectionError);
      assert.equal(err.ambiguous, true, 'the message was written, so the PAS may have it');
      return true;
    });
    assert.equal((await client.send(msg('D2'), 'D2')).code, 'AA');
  });

  it('rejects with ConnectionError when the connection is refused', async () => {
    const port = await freePort();
    client = new MllpClient(options(port));
    await assert.rejects(client.send(msg('X'), 'X'), (err: unknown) => {
      assert.ok(err instanceof ConnectionError);
      assert.equal(err.code, 'ECONNREFUSED');
      return true;
    });
  });

  it('rejects with ConnectionError on connect timeout', async () => {
    // A listening socket with a full backlog would be needed for a true SYN timeout; a non-routable address does it.
    client = new MllpClient(options(2575, { host: '10.255.255.1', connectTimeoutMs: 100 }));
    await assert.rejects(client.send(msg('X'), 'X'), (err: unknown) => {
      assert.ok(err instanceof ConnectionError);
      return true;
    });
  });

  it('keeps one message in flight: concurrent sends go out one after another', async () => {
    sim.setScenario({ delayMs: 20 });
    client = new MllpClient(options(sim.port));
    const acks = await Promise.all(['P1', 'P2', 'P3'].map((id) => client!.send(msg(id), id)));
    assert.deepEqual(acks.map((a) => a.controlId), ['P1', 'P2', 'P3']);
    const times = sim.received.map((m) => m.receivedAt);
    assert.ok(times[1]! - times[0]! >= 15 && times[2]! - times[1]! >= 15, `sends overlapped: ${times.join(',')}`);
  });

  it('reconnects in the background with backoff after the PAS restarts', async () => {
    const port = sim.port;
    client = new MllpClient(options(port, { reconnect: { initialMs: 30, maxMs: 60 } }));
    await client.send(msg('R1'), 'R1');
    await sim.close();
    await new Promise((r) => setTimeout(r, 150)); // several failed reconnects while the PAS is down
    sim = await startPasSimulator({ port });
    const deadline = Date.now() + 2000;
    while (!client.connected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(client.connected, true, 'reconnected without a send');
    assert.equal(sim.connections(), 1);
    assert.equal((await client.send(msg('R2'), 'R2')).code, 'AA');
  });

  it('ignores unsolicited frames and never acknowledges an ACK', async () => {
    const seen: string[] = [];
    const server = net.createServer((socket) => {
      const decoder = new MllpDecoder();
      socket.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) {
          seen.push(frame.toString());
          const id = frame.toString().split('|')[9];
          // the real ACK split over two writes, then an unsolicited ACK for something else
          const real = encodeFrame(`MSH|^~\\&|PAS|RXX|BARS|RXX|1||ACK^A04^ACK|Z|P|2.4\rMSA|CA|${id}\r`);
          socket.write(real.subarray(0, 7));
          setTimeout(() => socket.write(real.subarray(7)), 10);
          setTimeout(() => socket.write(encodeFrame('MSH|^~\\&|PAS|RXX|BARS|RXX|1||ACK^A04^ACK|Z|P|2.4\rMSA|AA|OTHER\r')), 20);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    try {
      client = new MllpClient(options(port));
      let unsolicited = 0;
      client.on('unsolicited', () => (unsolicited += 1));
      const ack = await client.send(msg('C9'), 'C9');
      assert.equal(ack.code, 'CA');
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(unsolicited, 1);
      assert.deepEqual(seen.map((s) => s.split('|')[8]), ['ADT^A04^ADT_A01'], 'client sent nothing but the message');
    } finally {
      await client?.close();
      client = undefined;
      await new Promise((r) => server.close(r));
    }
  });

  it('with keepAlive off, connects per message and closes after the ACK', async () => {
    client = new MllpClient(options(sim.port, { keepAlive: false }));
    await client.send(msg('K1'), 'K1');
    await client.send(msg('K2'), 'K2');
    assert.equal(sim.connections(), 2);
  });
});
