// Judges a replay's incidents against a scenario's truth file, exactly as
// shared/scenarios/README.md says:
// - a root (no parent_id) is right when its kind and scope equal an expected
//   fault's and it started between 2 min before the fault and 10 min after its
//   end; a second root on the same fault is a duplicate;
// - any other root is a false alarm (route incidents caused by a bottleneck,
//   an overloaded node or an RF drop are fine only as children);
// - a found fault should close within 30 min after it ends (ended_at);
// - detected_at − fault start is the detection delay.
import type { Incident, Scope } from '../../src/incidents/incident.schema.ts';
import { scopeKey } from '../../src/incidents/incident.schema.ts';

export interface ExpectedFault {
  kind: string;
  scope: Scope;
  start_at: string;
  end_at: string;
  routes?: string[];
}

export interface FaultVerdict {
  kind: string;
  scope: string;
  start_at: string;
  end_at: string;
  found: boolean;
  incident_id: string | null;
  started_at: string | null;
  ended_at: string | null;
  /** detected_at − fault start, seconds */
  detection_delay_s: number | null;
  /** ended_at − fault end, seconds (null while open) */
  close_delay_s: number | null;
  closed_in_time: boolean;
  children: number;
}

export interface Verdict {
  faults: FaultVerdict[];
  false_roots: Array<{ id: string; kind: string; scope: string; started_at: string; ended_at: string | null; children: number }>;
  duplicates: Array<{ id: string; kind: string; scope: string; started_at: string; duplicate_of: string }>;
  orphans: Array<{ id: string; kind: string; scope: string; parent_id: string }>;
  /** Everything that makes the answer wrong, one line each; empty = pass. */
  problems: string[];
}

const MIN = 60_000;
export const START_TOLERANCE_MS = 2 * MIN;
export const LATE_START_MS = 10 * MIN;
export const CLOSE_WITHIN_MS = 30 * MIN;

const ms = (s: string) => Date.parse(s);

export function judge(incidents: Incident[], expected: ExpectedFault[]): Verdict {
  const byId = new Map(incidents.map((i) => [i.id, i]));
  const childCount = new Map<string, number>();
  const orphans: Verdict['orphans'] = [];
  for (const i of incidents) {
    if (!i.parent_id) continue;
    if (!byId.has(i.parent_id)) orphans.push({ id: i.id, kind: i.kind, scope: scopeKey(i.scope), parent_id: i.parent_id });
    childCount.set(i.parent_id, (childCount.get(i.parent_id) ?? 0) + 1);
  }

  const faults = expected.map((f) => ({ f, key: scopeKey(f.scope), match: null as Incident | null }));
  const falseRoots: Verdict['false_roots'] = [];
  const duplicates: Verdict['duplicates'] = [];
  const roots = incidents.filter((i) => !i.parent_id).sort((a, b) => ms(a.started_at) - ms(b.started_at) || a.id.localeCompare(b.id));
  for (const r of roots) {
    const key = scopeKey(r.scope);
    const t = ms(r.started_at);
    const candidates = faults.filter(
      (x) => x.f.kind === r.kind && x.key === key && t >= ms(x.f.start_at) - START_TOLERANCE_MS && t <= ms(x.f.end_at) + LATE_START_MS,
    );
    const open = candidates.find((x) => !x.match);
    if (open) open.match = r;
    else if (candidates.length) duplicates.push({ id: r.id, kind: r.kind, scope: key, started_at: r.started_at, duplicate_of: candidates[0]!.match!.id });
    else falseRoots.push({ id: r.id, kind: r.kind, scope: key, started_at: r.started_at, ended_at: r.ended_at, children: childCount.get(r.id) ?? 0 });
  }

  const verdicts: FaultVerdict[] = faults.map(({ f, key, match }) => {
    const endMs = ms(f.end_at);
    const closeDelay = match?.ended_at ? (ms(match.ended_at) - endMs) / 1000 : null;
    return {
      kind: f.kind,
      scope: key,
      start_at: f.start_at,
      end_at: f.end_at,
      found: !!match,
      incident_id: match?.id ?? null,
      started_at: match?.started_at ?? null,
      ended_at: match?.ended_at ?? null,
      detection_delay_s: match ? (ms(match.detected_at) - ms(f.start_at)) / 1000 : null,
      close_delay_s: closeDelay,
      closed_in_time: closeDelay !== null && closeDelay * 1000 <= CLOSE_WITHIN_MS,
      children: match ? (childCount.get(match.id) ?? 0) : 0,
    };
  });

  const problems: string[] = [];
  for (const v of verdicts) {
    if (!v.found) problems.push(`missed: ${v.kind} ${v.scope} (${v.start_at} – ${v.end_at})`);
    else if (!v.closed_in_time) {
      problems.push(
        v.ended_at
          ? `closed late: ${v.kind} ${v.scope} ended_at ${v.ended_at}, ${Math.round(v.close_delay_s! / 60)} min after the fault ended`
          : `never closed: ${v.kind} ${v.scope} (fault ended ${v.end_at})`,
      );
    }
  }
  for (const r of falseRoots) problems.push(`false root: ${r.kind} ${r.scope} started ${r.started_at}${r.children ? ` (${r.children} children)` : ''}`);
  for (const d of duplicates) problems.push(`duplicate root: ${d.kind} ${d.scope} started ${d.started_at} (fault already found as ${d.duplicate_of})`);
  for (const o of orphans) problems.push(`child with a missing parent: ${o.kind} ${o.scope} → ${o.parent_id}`);

  return { faults: verdicts, false_roots: falseRoots, duplicates, orphans, problems };
}

/** A table for the test log and the report. */
export function formatVerdict(name: string, v: Verdict): string {
  const fmt = (s: number | null) => (s === null ? '—' : `${Math.round(s)} s`);
  const lines = [`scenario ${name}: ${v.problems.length ? `FAIL (${v.problems.length} problems)` : 'PASS'}`];
  for (const f of v.faults) {
    lines.push(
      `  ${f.found ? 'found ' : 'MISSED'} ${f.kind.padEnd(13)} ${f.scope.padEnd(44)} detection ${fmt(f.detection_delay_s).padStart(7)}  close ${fmt(f.close_delay_s).padStart(7)}${f.found && !f.closed_in_time ? ' (LATE)' : ''}  children ${f.children}`,
    );
  }
  for (const p of v.problems.filter((p) => !p.startsWith('missed') && !p.startsWith('closed late') && !p.startsWith('never closed'))) lines.push(`  ${p}`);
  return lines.join('\n');
}
