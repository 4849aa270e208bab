/*
 * The PAS simulator in a process of its own (so the load generator's event loop does not slow its ACKs), driven over
 * IPC by bench/lib.ts. It keeps a compact record of every message (MSH-10, MSH-9, our reference, answer, time) and
 * forgets the text, so a 60 s run does not hold 100,000+ HL7 messages.
 *
 * Messages from the parent: {cmd:'dump'} → {type:'dump', records}; {cmd:'scenario', scenario} (ackCode, delayMs,
 * nakRate, dropRate, silentRate); {cmd:'close'} → stop listening (PAS outage); {cmd:'open'} → listen again on the
 * same port.
 */
import { startPasSimulator, type PasScenario, type PasSimulator, type ReceivedMessage } from '../src/dev/pas-sim.js';

/** One message as the simulator saw it: [MSH-10, MSH-9 (first two components), reference, answer, ms since start]. */
export type SimRecord = [controlId: string, type: string, reference: string, answer: string, at: number];

const REF = /BB-[0-9A-Z]{8}/;
const t0 = Date.now();
let records: SimRecord[] = [];
let scenario: PasScenario = {};
let port = Number(process.env.SIM_PORT ?? 0);
const onMessage = (m: ReceivedMessage): void => {
  const answer = m.action.kind === 'ack' ? m.action.code : m.action.kind;
  records.push([m.controlId, m.messageType.split('^').slice(0, 2).join('^'), REF.exec(m.text)?.[0] ?? '', answer, m.receivedAt - t0]);
};
let sim: PasSimulator | undefined;
const open = async (): Promise<void> => {
  sim = await startPasSimulator({ port, scenario, onMessage });
  port = sim.port;
};
await open();
// The simulator keeps every message it received; the compact records above are all the benchmarks need.
setInterval(() => {
  if (sim) {
    sim.received.length = 0;
  }
}, 200).unref();

process.on('message', (msg: { cmd: string; scenario?: PasScenario }) => {
  void (async () => {
    switch (msg.cmd) {
      case 'dump':
        process.send!({ type: 'dump', records });
        break;
      case 'reset':
        records = [];
        process.send!({ type: 'reset' });
        break;
      case 'scenario':
        scenario = msg.scenario ?? {};
        sim?.setScenario(scenario);
        process.send!({ type: 'scenario' });
        break;
      case 'close':
        await sim?.close();
        sim = undefined;
        process.send!({ type: 'closed' });
        break;
      case 'open':
        await open();
        process.send!({ type: 'opened' });
        break;
    }
  })();
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready', port });
