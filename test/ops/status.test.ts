import { expect, test, setDefaultTimeout } from 'bun:test';
import { configFrom } from '../../src/config.ts';
import { runMaintenanceJob } from '../../src/ops/maintenance.job.ts';
import { formatBytes } from '../../src/format.ts';
import { collectStatus, formatStatus } from '../../src/ops/status.command.ts';
import { testApp } from '../support/app.ts';
import { MESHMON_BIN, REPO_ROOT } from '../support/collector-process.ts';
import { describeEachMode } from '../support/databases.ts';
import { HOUR, hourOfData, insertHops, insertProbes } from './helpers.ts';

// Real databases on a shared machine: PGlite start-up and pg_dump take seconds.
setDefaultTimeout(60_000);

const at = new Date('2026-03-02T12:00:00Z');

describeEachMode('meshmon status', (get, mode) => {
  test('reports mode, sizes, row counts, job states and open incidents', async () => {
    const tdb = get();
    const d = hourOfData(at.getTime() - 2 * HOUR, 7);
    await insertProbes(tdb.db, d.probes);
    await insertHops(tdb.db, d.hops);
    await tdb.db.insertInto('incidents').values({
      id: 'st-1', kind: 'rf_drop', scope: '{}', scope_key: 'link:N0DE-A--N0DE-B', status: 'open', severity: 'major',
      started_at: at, detected_at: at, updated_at: at,
    }).execute();
    const t = testApp(tdb, { now: at });
    expect((await runMaintenanceJob(t.deps, 'retention')).ok).toBe(true);
    expect((await runMaintenanceJob(t.deps, 'rollup')).ok).toBe(true);

    const r = await collectStatus(tdb.db, configFrom(), { exact: false });
    expect(r.database.mode).toBe(mode);
    expect(r.database.size_bytes).toBeGreaterThan(0);
    const rows = Object.fromEntries(r.tables.map((x) => [x.table, x.rows]));
    expect(rows.path_probe).toBe(d.probes.length);
    expect(rows.hop_quality).toBe(d.hops.length);
    expect(rows.incidents).toBe(1);
    expect(rows.path_probe_hourly).toBe(2);
    expect(r.tables.find((x) => x.table === 'path_probe')!.kind).toBe(mode === 'none' ? 'table' : 'hypertable');
    expect(r.tables.find((x) => x.table === 'path_probe_hourly')!.kind).toBe(mode === 'timescale' ? 'continuous_aggregate' : mode === 'apache' ? 'hypertable' : 'table');
    expect(r.jobs.map((j) => [j.name, j.last_result])).toEqual(expect.arrayContaining([['retention', 'ok'], ['rollup', 'ok']]));
    expect(r.incidents).toMatchObject({ open: 1, by_kind: [{ kind: 'rf_drop', severity: 'major', count: 1 }] });
    if (mode === 'timescale') {
      expect(r.retention.compress_after_days).toBe(7);
      expect(r.policies.length).toBe(10);
      expect(r.compression.map((c) => c.table)).toEqual(['path_probe', 'hop_quality', 'agent_health']);
    } else {
      expect(r.retention.compress_after_days).toBeNull();
      expect(r.policies).toEqual([]);
      expect(r.rollup_watermarks.map((w) => w.rollup).sort()).toEqual(['hop_quality_hourly', 'path_probe_hourly']);
    }
    const text = formatStatus(r, at);
    expect(text).toContain(`${mode} mode`);
    expect(text).toMatch(/path_probe\s+(hypertable|table)\s+18\s/);
    expect(text).toContain('1 open: 1 rf_drop (major)');
    expect(text).toMatch(/retention\s+0 s ago\s+ok/);
  });
});

describeEachMode('npx meshmon status', (get) => {
  const cli = (args: string[]) => {
    const p = Bun.spawnSync([MESHMON_BIN, 'status', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: get().url! },
    });
    return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
  };

  test('prints a report for a person, and JSON with --json', () => {
    const text = cli([]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('none mode');
    expect(text.stdout).toMatch(/TABLE\s+KIND\s+ROWS\s+SIZE/);
    const json = cli(['--json', '--exact']);
    expect(json.code, json.stderr).toBe(0);
    const r = JSON.parse(json.stdout);
    expect(r.database.mode).toBe('none');
    expect(r.tables.every((t: { exact: boolean }) => t.exact)).toBe(true);
    expect(cli(['--nope']).code).toBe(2);
  });
}, ['none']);

test('formatBytes', () => {
  expect(formatBytes(512)).toBe('512 B');
  expect(formatBytes(1536)).toBe('1.5 KiB');
  expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
});
