/*
 * deploy/grafana/bars-bridge.json queries only metrics we export (a renamed metric must not leave an empty panel
 * nobody notices), covers the figures issue 16 asks ops to see, and is an importable dashboard.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createMetrics } from '../../../src/metrics.js';

interface Target {
  readonly expr?: string;
  readonly datasource?: { uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { h: number; w: number; x: number; y: number };
  readonly targets?: Target[];
  readonly datasource?: { uid?: string };
}

const dashboard = JSON.parse(readFileSync('deploy/grafana/bars-bridge.json', 'utf8')) as {
  uid: string;
  panels: Panel[];
  __inputs: Array<{ name: string; pluginId: string }>;
  templating: { list: Array<{ name: string; query: { query: string } }> };
};

/** Every series name a metric family exports (histograms: _bucket, _sum, _count). */
async function exportedSeries(): Promise<Set<string>> {
  const families = await createMetrics().registry.getMetricsAsJSON();
  const names = new Set<string>();
  for (const f of families) {
    names.add(f.name);
    if (String(f.type) === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) {
        names.add(f.name + suffix);
      }
    }
  }
  return names;
}

const exprs = (): string[] => [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')),
  ...dashboard.templating.list.map((v) => v.query.query),
];
const metricsIn = (expr: string): string[] => expr.match(/\bbars_bridge_[a-z0-9_]+/g) ?? [];

describe('Grafana dashboard (deploy/grafana)', function () {
  it('queries only metrics we export', async function () {
    const exported = await exportedSeries();
    const queried = new Set(exprs().flatMap(metricsIn));
    assert.ok(queried.size >= 15, `the dashboard queries ${queried.size} metrics`);
    const unknown = [...queried].filter((m) => !exported.has(m));
    assert.deepEqual(unknown, [], 'metrics the dashboard queries that /metrics does not export');
  });

  it('shows every figure issue 16 asks for', function () {
    const queried = new Set(exprs().flatMap(metricsIn));
    for (const metric of [
      'bars_bridge_link_state',
      'bars_bridge_delivered_total',
      'bars_bridge_lane_waiting',
      'bars_bridge_lane_head_age_seconds',
      'bars_bridge_dead_letters',
      'bars_bridge_held_records',
      'bars_bridge_mapping_failures_total',
      'bars_bridge_pas_events_total',
      'bars_bridge_responses_total',
      'bars_bridge_request_duration_seconds_bucket',
      'bars_bridge_alert',
    ]) {
      assert.ok(queried.has(metric), `${metric} is on the dashboard`);
    }
  });

  it('is importable: a Prometheus data source input, unique panel ids, panels on the 24-column grid', function () {
    assert.equal(dashboard.uid, 'bars-bridge');
    assert.deepEqual(dashboard.__inputs.map((i) => [i.name, i.pluginId]), [['DS_PROMETHEUS', 'prometheus']]);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the grid`);
      if (p.type !== 'row') {
        assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `${p.title} uses the data source input`);
        assert.ok((p.targets ?? []).length > 0 && p.targets!.every((t) => metricsIn(t.expr ?? '').length > 0), `${p.title} queries a bars_bridge metric`);
      }
    }
  });
});
