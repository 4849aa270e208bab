import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Hl7Message } from '@medplum/core';
import { readAck, readMessageHeader } from '../../../src/protocol/hl7/header.js';
import { MllpClient } from '../../../src/protocol/hl7/mllp-client.js';
import { buildAck } from '../../../src/protocol/hl7/ack.js';
import { buildArrivalA04, sendPasEvent } from '../../../src/dev/pas-sim-events.js';
import { chooseAction, startPasSimulator } from '../../../src/dev/pas-sim.js';
import { runCommand } from '../../helpers/cli.js';

const A04 = 'MSH|^~\\&|BARS|RXX1|PAS|RXX2|20260101000000||ADT^A04^ADT_A01|CTRL42|P|2.4\rPID|1||943\r';

describe('PAS simulator', () => {
  it('builds an ACK that an independent parser (medplum Hl7Message) reads as a correct ACK', () => {
    const ack = buildAck(readMessageHeader(A04), { code: 'AE', ackControlId: 'SIMACK1', text: 'bad PID' });
    const parsed = Hl7Message.parse(ack);
    const msh = parsed.getSegment('MSH')!;
    const msa = parsed.getSegment('MSA')!;
    assert.equal(msh.getField(3).toString(), 'PAS', 'MSH-3 is the original receiving application');
    assert.equal(msh.getField(4).toString(), 'RXX2');
    assert.equal(msh.getField(5).toString(), 'BARS', 'MSH-5 is the original sending application');
    assert.equal(msh.getField(6).toString(), 'RXX1');
    assert.equal(msh.getField(9).toString(), 'ACK^A04^ACK');
    assert.equal(msh.getField(10).toString(), 'SIMACK1');
    assert.equal(msh.getField(12).toString(), '2.4');
    assert.equal(msa.getField(1).toString(), 'AE');
    assert.equal(msa.getField(2).toString(), 'CTRL42', 'MSA-2 is the original MSH-10');
    assert.equal(msa.getField(3).toString(), 'bad PID');
    assert.deepEqual(readAck(ack), { code: 'AE', controlId: 'CTRL42', text: 'bad PID' });
  });

  it('chooses actions by rate with a seeded random source', () => {
    const rolls = [0.01, 0.9, 0.9, 0.9];
    let i = 0;
    const scenario = { nakRate: 0.05, dropRate: 0.02, random: () => rolls[i++ % rolls.length]! };
    const info = { controlId: 'X', messageType: 'ADT^A04', seq: 1, receipts: 1 };
    assert.deepEqual(chooseAction(scenario, info), { kind: 'drop' });
    assert.equal(chooseAction({ nakRate: 1 }, info).kind, 'ack');
    assert.deepEqual(chooseAction({ nakRate: 1, nakCode: 'AR' }, info), {
      kind: 'ack',
      code: 'AR',
      text: 'Simulated application error',
      delayMs: undefined,
    });
  });

  it('records messages in order, counts connections, and answers over a real socket', async () => {
    const sim = await startPasSimulator({ scenario: { ackCode: 'AA' } });
    const client = new MllpClient({
      host: sim.host,
      port: sim.port,
      connectTimeoutMs: 500,
      ackTimeoutMs: 500,
      keepAlive: true,
      reconnect: { initialMs: 50, maxMs: 100 },
    });
    try {
      await client.send(A04, 'CTRL42');
      await client.send(A04.replace('CTRL42', 'CTRL43'), 'CTRL43');
      assert.deepEqual(sim.received.map((m) => [m.seq, m.controlId, m.messageType]), [
        [1, 'CTRL42', 'ADT^A04^ADT_A01'],
        [2, 'CTRL43', 'ADT^A04^ADT_A01'],
      ]);
    } finally {
      await client.close();
      await sim.close();
    }
  });

  it('sends a PAS event (ADT^A04 arrival) to a listener and returns its ACK', async () => {
    const listener = await startPasSimulator(); // stands in for the PAS events listener
    try {
      const text = buildArrivalA04({ controlId: 'EVT1', patientId: '9434765919', visitNumber: 'V123' });
      const parsed = Hl7Message.parse(text);
      assert.equal(parsed.getSegment('PV1')!.getField(19).toString(), 'V123');
      const ack = await sendPasEvent({ host: listener.host, port: listener.port }, text, 'EVT1');
      assert.equal(ack.code, 'AA');
      assert.equal(listener.received[0]!.messageType, 'ADT^A04^ADT_A01');
    } finally {
      await listener.close();
    }
  });

  it('rejects bad options with exit 2 and says why', async () => {
    const badRate = await runCommand(['pas-sim', '--nak-rate', '2']);
    assert.equal(badRate.code, 2);
    assert.match(badRate.err, /option '--nak-rate <rate>' argument '2' is invalid\. must be between 0 and 1/);
    const unknown = await runCommand(['pas-sim', '--bogus']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown option '--bogus'/);
    assert.equal((await runCommand(['pas-sim', '--ack', 'XX'])).code, 2, 'MSA-1 must be an HL7 table 0008 code');
    assert.equal((await runCommand(['pas-sim', '--port', '70000'])).code, 2);
  });

  it('pas-sim arrival sends an ADT^A04 carrying the visit number and exits by the ACK code', async () => {
    const pas = await startPasSimulator();
    try {
      const ok = await runCommand(['pas-sim', 'arrival', 'BB-7Q3K9M2T', '--events-port', String(pas.port), '--control-id', 'ARR1']);
      assert.equal(ok.code, 0, ok.err);
      assert.equal(ok.out, 'ADT^A04 ARR1 -> AA\n');
      assert.equal(pas.received[0]!.messageType, 'ADT^A04^ADT_A01');
      assert.equal(Hl7Message.parse(pas.received[0]!.text).getSegment('PV1')!.getField(19).toString(), 'BB-7Q3K9M2T');
      pas.setScenario({ ackCode: 'AE' });
      const refused = await runCommand(['pas-sim', 'arrival', 'BB-1', '--events-port', String(pas.port), '--json']);
      assert.equal(refused.code, 1);
      assert.equal((JSON.parse(refused.out) as { ack: string }).ack, 'AE');
    } finally {
      await pas.close();
    }
  });

  it('pas-sim command runs until SIGINT and prints ids and codes, not message text', async function () {
    this.timeout(60000);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/bin/cli.ts', 'pas-sim', '--port', '0', '--ack', 'AE'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const deadline = Date.now() + 45000;
      while (!/listening on 127\.0\.0\.1:(\d+)/.test(output) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
      const client = new MllpClient({ host: '127.0.0.1', port, connectTimeoutMs: 2000, ackTimeoutMs: 5000, keepAlive: false, reconnect: { initialMs: 50, maxMs: 100 } });
      assert.equal((await client.send(A04, 'CTRL42')).code, 'AE');
      await client.close();
      child.kill('SIGINT');
      assert.equal(await exit, 0);
      assert.match(output, /#1 ADT\^A04\^ADT_A01 CTRL42 -> AE/);
      assert.match(output, /PAS simulator stopped after 1 messages/);
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
      }
    }
    assert.ok(!output.includes('PID'), 'no message text printed');
  });
});
