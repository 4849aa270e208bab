import { strict as assert } from 'node:assert';
import { html, raw } from '../../../src/console/html.js';
import { hl7Html, jsonTree } from '../../../src/console/hl7-view.js';
import { messageStatus } from '../../../src/console/queries.js';

describe('console templates', function () {
  it('escapes every interpolated value, arrays included, and keeps Html fragments as they are', function () {
    const name = `<script>alert("x")</script>&'`;
    const out = html`<td title="${name}">${name}</td>${[name, html`<b>${name}</b>`]}${raw('<br>')}`.text;
    assert.doesNotMatch(out, /<script>/);
    assert.equal(out.split('&lt;script&gt;').length - 1, 4);
    assert.match(out, /&quot;x&quot;/);
    assert.match(out, /&amp;&#39;/);
    assert.match(out, /<b>&lt;script/);
    assert.match(out, /<br>$/);
    assert.equal(html`${undefined}${null}${false}${0}`.text, '0');
  });

  it('shows HL7 one segment per line with fields labelled from the v2.4 dictionary, escaping the values', function () {
    const text = 'MSH|^~\\&|BARS|RYE|PAS|RYE|20240301||ADT^A05|CTL1|P|2.4\rPID|1||<img src=x>^^^NHS||Smith^Ann';
    const out = hl7Html(text).text;
    assert.equal((out.match(/class="seg"/g) ?? []).length, 2);
    assert.match(out, /title="MSH-10 Message Control ID"/i);
    assert.match(out, /title="PID-3 Patient Identifier List"/i);
    assert.match(out, /title="PID-5 Patient Name"/i);
    assert.doesNotMatch(out, /<img/);
  });

  it('folds a Bundle into collapsible blocks labelled by resource type, escaping keys and values', function () {
    const out = jsonTree({ resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Patient', name: '<b>' } }] }).text;
    assert.match(out, /<details open><summary><span class="t">Bundle<\/span>/);
    assert.match(out, /entry: Patient/);
    assert.doesNotMatch(out, /<b>/);
  });

  it('derives a message state from its outputs and responses', function () {
    assert.equal(messageStatus([], 0), 'accepted');
    assert.equal(messageStatus([{ status: 'queued' }, { status: 'delivered' }], 0), 'mapped');
    assert.equal(messageStatus([{ status: 'delivered' }, { status: 'held' }], 0), 'held');
    assert.equal(messageStatus([{ status: 'dead-lettered' }, { status: 'held' }], 0), 'dead-lettered');
    assert.equal(messageStatus([{ status: 'delivered' }, { status: 'delivered' }], 0), 'delivered');
    assert.equal(messageStatus([{ status: 'delivered' }], 1), 'responded');
  });
});
