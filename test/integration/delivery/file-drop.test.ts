import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { parseDestinations, type FileDestination } from '../../../src/config/destinations.js';
import { FileWriteError } from '../../../src/protocol/hl7/transport-errors.js';
import { dropFile, fileNameFor } from '../../../src/flows/delivery/file-drop.js';
import { getDeliveryHistory } from '../../../src/flows/delivery/history.js';
import { enqueueDelivery, startLaneWorkers } from '../../../src/flows/delivery/lanes.js';
import { fastPolicy, testRedis, uniquePrefix, waitFor } from './helpers.js';

describe('file drop destination', function () {
  this.timeout(20000);
  let dir: string;
  let destination: FileDestination;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bars-drop-'));
    destination = parseDestinations([{ name: 'ed-drop', kind: 'file', directory: dir, fileNamePattern: '{controlId}.hl7' }])[0] as FileDestination;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('never shows a partial file under its final name', async () => {
    const body = (i: number): string => `MSH|${i}|` + 'x'.repeat(1024 * 1024) + `|END${i}\r`;
    let polling = true;
    let checks = 0;
    const complete = new Set<string>();
    const poller = (async () => {
      while (polling) {
        for (const name of readdirSync(dir)) {
          if (name.startsWith('.')) {
            continue; // temporary names are dot-files: pollers of the PAS ignore them
          }
          const i = Number(name.slice(1, -4));
          assert.equal(readFileSync(path.join(dir, name), 'utf8'), body(i), `${name} incomplete when first seen`);
          complete.add(name);
          checks += 1;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 8; i += 1) {
      await dropFile(destination, body(i), { controlId: `C${i}`, messageId: `m${i}`, destination: 'ed-drop', now: new Date() });
    }
    polling = false;
    await poller;
    assert.equal(readdirSync(dir).length, 8, 'no temporary files left behind');
    assert.ok(checks > 0);
  });

  it('makes safe names and reports unusable ones', () => {
    const values = { controlId: '../evil', messageId: 'm', destination: 'd', now: new Date('2026-01-02T03:04:05.678Z') };
    assert.equal(fileNameFor('{controlId}-{timestamp}.hl7', values), '_._evil-20260102030405678.hl7');
    assert.equal(fileNameFor('.{messageId}', values), '_m');
    assert.throws(() => fileNameFor('{controlId}', { ...values, controlId: '' }), FileWriteError);
  });

  it('fails with FileWriteError and leaves nothing when the directory is missing', async () => {
    const missing = { ...destination, directory: path.join(dir, 'nope') };
    await assert.rejects(dropFile(missing, 'x', { controlId: 'C', messageId: 'm', destination: 'd', now: new Date() }), FileWriteError);
  });

  it('delivers through a lane in order', async () => {
    const redis: Redis = testRedis();
    const prefix = uniquePrefix('file');
    const workers = await startLaneWorkers({ redis, prefix }, [destination], fastPolicy());
    try {
      for (let n = 1; n <= 5; n += 1) {
        await enqueueDelivery({ redis, prefix }, { messageId: `m${n}`, destination: 'ed-drop', controlId: `F${n}`, contentType: 'text/plain', text: `line ${n}\n` });
      }
      await waitFor(async () => (await getDeliveryHistory({ redis, prefix }, 'ed-drop', 'm5'))?.summary.status === 'delivered', 5000, 'five files');
      assert.deepEqual(readdirSync(dir).sort(), ['F1.hl7', 'F2.hl7', 'F3.hl7', 'F4.hl7', 'F5.hl7']);
      assert.equal(readFileSync(path.join(dir, 'F3.hl7'), 'utf8'), 'line 3\n');
    } finally {
      await workers.close();
      await redis.quit();
    }
  });
});
