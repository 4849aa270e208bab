import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { buildSlotQuery, isRefusal, parseHl7Time, readSiu, readSlotAnswer, type DiaryEvent } from '../../../src/flows/diary/schedule-hl7.js';
import { diarySettingsSchema, diaryReading } from '../../../src/flows/diary/settings.js';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/diary/${name}`, import.meta.url), 'utf8');
const reading = diaryReading(diarySettingsSchema.parse({ clinicFields: ['AIL-3.1', 'ZBX-5.1'], releaseStatuses: ['Cancelled', '4'] }));

describe('diary HL7: scheduling messages → slot occupancy', () => {
  it('reads a trust-shaped SIU^S12: PAS id from SCH-1, clinic from ZBX-5, local SCH-11 times (BST)', () => {
    const ev = readSiu(fixture('trust-shaped-siu-s12.hl7'), reading) as DiaryEvent;
    assert.ok(!isRefusal(ev));
    assert.equal(ev.effect, 'hold');
    assert.equal(ev.appointmentId, 'APT9001');
    assert.equal(ev.clinic, 'GEN345_BAB');
    // 2026-10-24 09:45 Europe/London is BST (+01:00).
    assert.equal(new Date(ev.startMs!).toISOString(), '2026-10-24T08:45:00.000Z');
    assert.equal(new Date(ev.endMs!).toISOString(), '2026-10-24T09:05:00.000Z');
  });

  it('a trust-shaped SIU^S15 (SCH-25 4) releases; a clinic-less field list cannot hold', () => {
    const ev = readSiu(fixture('trust-shaped-siu-s15.hl7'), reading) as DiaryEvent;
    assert.equal(ev.effect, 'release');
    const noClinic = readSiu(fixture('trust-shaped-siu-s12.hl7'), { ...reading, clinicFields: ['AIL-3.1'] });
    assert.deepEqual(noClinic, { refused: 'no-clinic' });
  });

  it('a release status on a hold trigger releases; S26 changes nothing; non-SIU is refused', () => {
    const s14 = fixture('trust-shaped-siu-s12.hl7').replace('SIU^S12', 'SIU^S14').replace(/\|1\r(ZBX)/, '|Cancelled\r$1');
    assert.equal((readSiu(s14, reading) as DiaryEvent).effect, 'release');
    assert.equal((readSiu(fixture('trust-shaped-siu-s12.hl7').replace('SIU^S12', 'SIU^S26'), reading) as DiaryEvent).effect, 'none');
    assert.deepEqual(readSiu('MSH|^~\\&|A|B|C|D|20260101||ADT^A04|1|P|2.4\r', reading), { refused: 'not-siu' });
  });

  it('HL7 times: offset kept, local time resolved in the zone, nonsense refused', () => {
    assert.equal(parseHl7Time('20260115093000+0000', 'Europe/London'), Date.parse('2026-01-15T09:30:00Z'));
    assert.equal(parseHl7Time('202607150930', 'Europe/London'), Date.parse('2026-07-15T08:30:00Z'));
    assert.equal(parseHl7Time('2026071509', 'Europe/London'), undefined);
  });

  it('SQM^S25 names the clinic and the range; SQR^S25 lists held time, leaving released statuses out', () => {
    const q = buildSlotQuery({ controlId: 'Q1', clinic: 'GEN345_BAB', fromMs: Date.parse('2026-01-15T09:00:00Z'), toMs: Date.parse('2026-01-15T12:00:00Z'), now: 0, limit: 50 });
    assert.match(q, /^MSH\|\^~\\&\|[^\r]*\|SQM\^S25\^SQM_S25\|Q1\|/);
    assert.match(q, /\rQRD\|[^\r]*\|Q1\|\|\|50\^RD\|GEN345_BAB\|APP\r/);
    assert.match(q, /\rARQ\|{11}20260115090000\+0000\^20260115120000\+0000\r/);
    const answer = [
      'MSH|^~\\&|PAS|RXX|BARS|BARS|20260115||SQR^S25^SQR_S25|A1|P|2.4',
      'MSA|AA|Q1',
      'QAK|Q1|OK',
      'SCH|OURS-1|APT1|||||||30|MIN|^^30^20260115093000+0000^20260115100000+0000||||||||||||||Booked',
      'RGS|1',
      'SCH|APT2|APT2|||||||30|MIN|^^30^20260115100000+0000^20260115103000+0000||||||||||||||Cancelled',
    ].join('\r');
    const read = readSlotAnswer(answer, reading, 'GEN345_BAB');
    assert.equal(read.status, 'OK');
    assert.deepEqual(read.held.map((h) => [h.appointmentId, h.placerId, h.clinic]), [['APT1', 'OURS-1', 'GEN345_BAB']]);
  });
});
