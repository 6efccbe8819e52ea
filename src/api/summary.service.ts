import type { Executor } from '../db/database.ts';
import { engineState } from '../engine/engine-state.ts';
import { overallHealth } from '../engine/health.ts';
import { IncidentKind, Severity } from '../incidents/incident.schema.ts';
import { openIncidentCoverage, windowsAt } from '../maintenance/maintenance.service.ts';
import type { StatusRegistry } from '../status.ts';
import type { Summary } from './summary.schema.ts';
import { summaryFacts } from './summary.repository.ts';

const zeros = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

const latest = (...ds: Array<Date | string | null | undefined>): Date | null =>
  ds.reduce<Date | null>((a, d) => {
    if (!d) return a;
    const x = new Date(d);
    return !a || x > a ? x : a;
  }, null);

export async function summary(db: Executor, opts: { now: Date; status: StatusRegistry; engineIntervalS: number }): Promise<Summary> {
  const facts = await summaryFacts(db);
  const bySeverity = zeros(Severity.options);
  const byKind = zeros(IncidentKind.options);
  let total = 0;
  let roots = 0;
  for (const r of facts.open) {
    total += r.total;
    roots += r.roots;
    if (r.severity in bySeverity) bySeverity[r.severity as Severity] += r.total;
    if (r.kind in byKind) byKind[r.kind as IncidentKind] += r.total;
  }
  // Covered incidents stay counted but do not colour the health: planned work is not a fault.
  const colouring = { ...bySeverity };
  let maintenance = 0;
  const windows = await windowsAt(db, opts.now);
  if (windows.active.length) {
    const coverage = await openIncidentCoverage(db, opts.now, windows);
    for (const r of coverage.open) {
      if (!coverage.covered.has(r.id)) continue;
      maintenance++;
      if (r.severity in colouring) colouring[r.severity as Severity]--;
    }
  }
  const open = Severity.options.flatMap((s) => (colouring[s] > 0 ? [s] : []));
  // This process's registry is fresher when it leads the engine; job_state covers a leader elsewhere.
  const engineTick = latest(opts.status.get('engine')?.last_run_at, facts.engine?.last_run_at);
  const engine = engineState({ local: opts.status.get('engine'), stored: facts.engine, intervalS: opts.engineIntervalS, now: opts.now });
  const ingest = latest(facts.last_ingest_at);
  let health = overallHealth(open);
  // Incidents an engine cannot update are not the mesh's state: never green then.
  if (health === 'green' && (engine.state === 'failing' || engine.state === 'stale')) health = 'yellow';
  return {
    health,
    open: { total, roots, by_severity: bySeverity, by_kind: byKind, acknowledged: facts.acknowledged, maintenance },
    last_ingest_at: ingest ? ingest.toISOString() : null,
    last_engine_tick_at: engineTick ? engineTick.toISOString() : null,
    engine,
    generated_at: opts.now.toISOString(),
  };
}
