/* The diary alerts (issue 17 "Staleness is visible", "visible conflict for ops"): the pure rule evaluation. */
import { strict as assert } from 'node:assert';
import { loadConfig } from '../../../src/config/load.js';
import { evaluateAlerts, type AlertStates } from '../../../src/ops/alerts.js';

const rules = loadConfig({ NODE_ENV: 'test' }).alerts;

describe('diary alerts', () => {
  it('diary_feed_stale fires per service when its feed is older than the limit or never came, and resolves when it resumes', () => {
    let states: AlertStates = new Map();
    const step = (feeds: Array<{ healthcareService: string; feedAgeSeconds: number | undefined }>, conflicts = 0) => {
      const r = evaluateAlerts(states, { at: Date.now(), diary: { feeds, staleAfterSeconds: 3600, conflicts } }, rules);
      states = r.states;
      return r.changes.map((c) => `${c.alert}|${c.subject}|${c.firing}`);
    };
    assert.deepEqual(step([{ healthcareService: 'a', feedAgeSeconds: 10 }, { healthcareService: 'b', feedAgeSeconds: undefined }]), ['diary_feed_stale|b|true']);
    assert.deepEqual(step([{ healthcareService: 'a', feedAgeSeconds: 3601 }, { healthcareService: 'b', feedAgeSeconds: 5 }]), ['diary_feed_stale|a|true', 'diary_feed_stale|b|false']);
    assert.deepEqual(step([{ healthcareService: 'a', feedAgeSeconds: 3601 }, { healthcareService: 'b', feedAgeSeconds: 5 }], 2), ['diary_conflicts|diary|true']);
  });

  it('a limit of 0 turns the stale rule off', () => {
    const r = evaluateAlerts(new Map(), { at: Date.now(), diary: { feeds: [{ healthcareService: 'a', feedAgeSeconds: undefined }], staleAfterSeconds: 0, conflicts: 0 } }, rules);
    assert.deepEqual(r.changes, []);
  });
});
