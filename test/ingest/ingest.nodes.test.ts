import { expect, test } from 'bun:test';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';
import { agentHealth, counts, freshTables, pathResult } from './helpers.ts';

// MAX_NODES: an open ingest endpoint must not let a sender make the registry
// (and everything keyed by node) grow without bound.

describeEachMode('MAX_NODES', (get) => {
  freshTables(get);

  test('new nodes beyond the ceiling are dropped with a reason naming the setting; known nodes go on', async () => {
    const t = testApp(get(), { env: { MAX_NODES: '2' } });
    const r = await t.post('/ingest', [agentHealth({ node: 'n1' }), agentHealth({ node: 'n2' }), agentHealth({ node: 'n3' }), pathResult({ src: 'n3' })]);
    expect(r.status).toBe(200);
    expect(r.body.skipped).toBe(2);
    expect(r.body.drops).toEqual([
      { index: 2, path: 'node', reason: 'node_limit', message: expect.stringContaining('MAX_NODES=2') },
      { index: 3, path: 'src', reason: 'node_limit', message: expect.stringContaining('MAX_NODES') },
    ]);
    expect(r.body.rows.agent_health).toEqual({ inserted: 2, duplicates: 0, dropped: 1 });
    expect(r.body.rows.path_probe).toEqual({ inserted: 0, duplicates: 0, dropped: 1 });
    expect(await counts(get())).toMatchObject({ nodes: 2, agent_health: 2, path_probe: 0 });
    // Nothing else usable: a 4xx that says which setting to raise.
    const only = await t.post('/ingest', agentHealth({ node: 'n4', sent_at: '2026-03-02T11:58:00Z' }));
    expect(only.status).toBe(422);
    expect(only.body.errors).toEqual([{ index: 0, path: 'node', reason: 'node_limit', message: expect.stringContaining('MAX_NODES') }]);
    // Known nodes are not affected.
    expect((await t.post('/ingest', agentHealth({ node: 'n1', sent_at: '2026-03-02T11:58:00Z' }))).status).toBe(200);
    const m = await t.deps.metrics.registry.getSingleMetricAsString('meshmon_registry_nodes_refused_total');
    expect(m).toContain('meshmon_registry_nodes_refused_total 2');
    expect(await t.deps.metrics.registry.getSingleMetricAsString('meshmon_ingest_dropped_total')).toContain('meshmon_ingest_dropped_total{reason="node_limit"} 3');
    expect(await counts(get())).toMatchObject({ nodes: 2 });
  });

  test('concurrent requests from new nodes never take the registry past the ceiling', async () => {
    const t = testApp(get(), { env: { MAX_NODES: '5' } });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => t.post('/ingest', agentHealth({ node: `c${i}` }))));
    expect(results.filter((r) => r.status === 200)).toHaveLength(5);
    expect(results.filter((r) => r.status === 422)).toHaveLength(7);
    expect((await counts(get())).nodes).toBe(5);
  });
});
