import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import {
  CARRIAGE_RETURN,
  END_BLOCK,
  MllpDecoder,
  MllpFrameTooLargeError,
  START_BLOCK,
  encodeFrame,
} from '../../../src/protocol/hl7/mllp-framing.js';

const msg = (id: string): string => `MSH|^~\\&|BARS|RXX|PAS|RXX|20260101000000||ADT^A04^ADT_A01|${id}|P|2.4\rPID|1||943\r`;

/** Splits a buffer at the given cut points (sorted, deduplicated, within range). */
function split(buffer: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buffer.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(buffer.subarray(last, p));
    last = p;
  }
  chunks.push(buffer.subarray(last));
  return chunks;
}

describe('mllp-framing', () => {
  it('wraps a message in VT … FS CR', () => {
    const framed = encodeFrame('MSH|x');
    assert.equal(framed[0], START_BLOCK);
    assert.equal(framed[framed.length - 2], END_BLOCK);
    assert.equal(framed[framed.length - 1], CARRIAGE_RETURN);
    assert.equal(framed.subarray(1, -2).toString(), 'MSH|x');
  });

  it('decodes several frames coalesced in one chunk', () => {
    const decoder = new MllpDecoder();
    const frames = decoder.push(Buffer.concat([encodeFrame(msg('A')), encodeFrame(msg('B')), encodeFrame(msg('C'))]));
    assert.deepEqual(frames.map(String), [msg('A'), msg('B'), msg('C')]);
    assert.equal(decoder.hasPartialFrame, false);
  });

  it('decodes a frame delivered one byte at a time, including FS and CR in separate chunks', () => {
    const decoder = new MllpDecoder();
    const bytes = encodeFrame(msg('A'));
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i += 1) {
      out.push(...decoder.push(bytes.subarray(i, i + 1)).map(String));
      if (i < bytes.length - 1) {
        assert.equal(out.length, 0, `frame completed early at byte ${i}`);
      }
    }
    assert.deepEqual(out, [msg('A')]);
  });

  it('discards noise between frames and counts it', () => {
    const decoder = new MllpDecoder();
    const frames = decoder.push(Buffer.concat([Buffer.from('\r\n'), encodeFrame('M1'), Buffer.from('xx'), encodeFrame('M2')]));
    assert.deepEqual(frames.map(String), ['M1', 'M2']);
    assert.equal(decoder.discardedBytes, 4);
  });

  it('ends a frame at FS even when the CR is missing', () => {
    const decoder = new MllpDecoder();
    const frames = decoder.push(Buffer.from([START_BLOCK, 0x41, END_BLOCK, START_BLOCK, 0x42, END_BLOCK, CARRIAGE_RETURN]));
    assert.deepEqual(frames.map(String), ['A', 'B']);
  });

  it('keeps multi-byte UTF-8 characters split across chunks intact', () => {
    const decoder = new MllpDecoder();
    const bytes = encodeFrame('PID|||ÖZİL^Zoë');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two-byte Ö
    const frames = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
    assert.deepEqual(frames.map((f) => f.toString('utf8')), ['PID|||ÖZİL^Zoë']);
  });

  it('refuses a frame larger than the limit', () => {
    const decoder = new MllpDecoder(10);
    assert.throws(() => decoder.push(encodeFrame('x'.repeat(11))), MllpFrameTooLargeError);
  });

  it('an oversized frame keeps only its first 4 KiB (to read its MSH) and releases the rest', () => {
    const decoder = new MllpDecoder(64 * 1024);
    const start = 'MSH|^~\\&|PAS|RXX|BARS|RXX|||ADT^A04|C1|P|2.4\r';
    decoder.push(Buffer.concat([Buffer.from([0x0b]), Buffer.from(start)]));
    let error: MllpFrameTooLargeError | undefined;
    try {
      for (let i = 0; i < 100 && !error; i++) {
        decoder.push(Buffer.alloc(8192, 0x41));
      }
    } catch (err) {
      error = err as MllpFrameTooLargeError;
    }
    assert.ok(error instanceof MllpFrameTooLargeError);
    assert.equal(error.head.length, 4096);
    assert.ok(error.head.toString('utf8').startsWith(start));
    assert.equal(decoder.hasPartialFrame, false, 'the partial frame is dropped');
  });

  it('property: any messages, any chunking, decode to the same messages in order', () => {
    const hl7Text = fc
      .string({ unit: 'grapheme', maxLength: 200 })
      .map((s) => s.replace(/[\u000b\u001c]/g, ''));
    fc.assert(
      fc.property(fc.array(hl7Text, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
        const decoder = new MllpDecoder();
        const out = split(stream, cuts).flatMap((chunk) => decoder.push(chunk).map((f) => f.toString('utf8')));
        assert.deepEqual(out, messages);
        assert.equal(decoder.hasPartialFrame, false);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes frames written to a real socket in odd-sized pieces', async () => {
    const messages = Array.from({ length: 50 }, (_, i) => msg(`C${i}`));
    const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
    const received: string[] = [];
    const server = net.createServer((socket) => {
      const decoder = new MllpDecoder();
      socket.on('data', (chunk: Buffer) => received.push(...decoder.push(chunk).map(String)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect({ port, host: '127.0.0.1' });
    client.setNoDelay(true);
    await new Promise((r) => client.once('connect', r));
    try {
      for (let offset = 0, size = 1; offset < stream.length; offset += size, size = (size * 7) % 97 + 1) {
        client.write(stream.subarray(offset, offset + size));
        if (size % 3 === 0) {
          await new Promise((r) => setImmediate(r));
        }
      }
      const deadline = Date.now() + 2000;
      while (received.length < messages.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(received, messages);
    } finally {
      client.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
