// The Grafana dashboard only charts metrics that exist: every valor_* name in its queries is
// defined by the stream metrics, the provider metrics or the answer node's (a renamed metric fails here, not on a
// blank panel in production).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { StreamMetrics } from '../../runtime/metrics/stream-metrics';

const ROOT = path.join(__dirname, '..', '..');

describe('the Grafana dashboard', () => {
  it('queries only metrics the code defines, through the provisioned data source', async () => {
    const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'docker', 'grafana', 'dashboards', 'valor-stream.json'), 'utf8')) as {
      panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ expr: string }> }>;
    };
    const metrics = new StreamMetrics(new Registry());
    const defined = new Set(metrics.registry.getMetricsAsArray().map((m) => m.name));
    await metrics.close();
    for (const file of [
      ['models', 'llm', 'provider-metrics.ts'],
      ['models', 'answer', 'answer-metrics.ts'],
    ]) {
      const src = fs.readFileSync(path.join(ROOT, ...file), 'utf8');
      for (const m of src.matchAll(/'(valor_[a-z_]+)'/g)) defined.add(m[1]!);
    }
    const used = new Set<string>();
    for (const p of dash.panels) {
      expect([p.title, p.datasource.uid]).toEqual([p.title, 'prometheus']);
      for (const t of p.targets) for (const m of t.expr.matchAll(/\bvalor_[a-z_]+/g)) used.add(m[0].replace(/_(bucket|sum|count)$/, ''));
    }
    expect(used.size).toBeGreaterThan(8);
    expect([...used].filter((n) => !defined.has(n))).toEqual([]);
  });
});
