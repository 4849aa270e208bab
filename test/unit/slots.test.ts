import { strict as assert } from 'node:assert';
import { slotScheduleSchema } from '../../src/config/schema.js';
import { findSlot, generateSlots, zoneOffsetMinutes } from '../../src/flows/intake/slots.js';

const schedule = slotScheduleSchema.parse({ healthcareService: '7e0a3e1c-93a5-4a0b-9a43-3f7e1f5d2c11', hours: { '0': '08:00-10:00', '6': '08:00-10:00' }, slotMinutes: 30 });

describe('slot generation', function () {
  it('serves London wall-clock hours with the right offset either side of the clocks changing', function () {
    // Sunday 29 March 2026: BST starts at 01:00 UTC.
    const sun = generateSlots(schedule, Date.parse('2026-03-29T00:00:00Z'), Date.parse('2026-03-29T23:59:00Z'));
    assert.equal(sun[0]!.start, '2026-03-29T08:00:00+01:00');
    const sat = generateSlots(schedule, Date.parse('2026-03-28T00:00:00Z'), Date.parse('2026-03-28T23:59:00Z'));
    assert.equal(sat[0]!.start, '2026-03-28T08:00:00+00:00');
    assert.equal(sat.length, 4);
    assert.equal(zoneOffsetMinutes('Europe/London', Date.parse('2026-07-01T12:00:00Z')), 60);
  });

  it('gives a slot the same id every time, and finds it again from its start', function () {
    const a = generateSlots(schedule, Date.parse('2026-03-28T00:00:00Z'), Date.parse('2026-03-28T23:59:00Z'));
    const b = generateSlots(schedule, Date.parse('2026-03-28T07:00:00Z'), Date.parse('2026-03-28T12:00:00Z'));
    assert.equal(a[1]!.id, b[1]!.id);
    assert.match(a[0]!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(findSlot([schedule], a[2]!.id, a[2]!.start)?.id, a[2]!.id);
    assert.equal(findSlot([schedule], 'not-ours', a[2]!.start), undefined);
  });
});
