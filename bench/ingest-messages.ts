// Realistic ingest load for bench/ingest.ts: the recorded scenario meshes
// (test/fixtures/scenarios), moved in time so they end just before now and
// repeated `passes` times one scenario-length apart, so every message is new
// to the collector (inserts, not duplicates) and inside retention.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

export const SCENARIOS_DIR = process.env.MESHMON_SCENARIOS_DIR ?? path.resolve(import.meta.dir, '../test/fixtures/scenarios');

type Msg = Record<string, any>;

export function loadScenario(name: string): Msg[] {
  const file = path.join(SCENARIOS_DIR, `${name}.ndjson.gz`);
  const text = gunzipSync(readFileSync(file)).toString('utf8');
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Msg);
}

const shiftIso = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

function shifted(m: Msg, ms: number): Msg {
  const out: Msg = { ...m, sent_at: shiftIso(m.sent_at, ms) };
  if (m.type === 'network_status') out.probes = m.probes.map((p: Msg) => ({ ...p, timestamp: shiftIso(p.timestamp, ms) }));
  if (m.type === 'crash_report' && m.crash_time) out.crash_time = shiftIso(m.crash_time, ms);
  return out;
}

/**
 * The scenarios' messages `passes` times, in sent_at order, the last one
 * `endAt` (default: a minute ago). Same arguments → same messages.
 */
export function buildMessages(scenarios: string[], passes: number, endAt = Date.now() - 60_000): Msg[] {
  const base = scenarios.flatMap(loadScenario).sort((a, b) => Date.parse(a.sent_at) - Date.parse(b.sent_at));
  const first = Date.parse(base[0]!.sent_at);
  const last = Date.parse(base[base.length - 1]!.sent_at);
  const span = last - first + 60_000;
  const out: Msg[] = [];
  for (let p = 0; p < passes; p++) {
    const ms = endAt - last - (passes - 1 - p) * span;
    for (const m of base) out.push(shifted(m, ms));
  }
  return out;
}

export function batches<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * The messages as the AREDN-Phonebook agent sends them: each network_status
 * carries the node's last `keep` probes (its own and those of its earlier
 * reports), so most of every report repeats the one before.
 */
export function upstreamShape(messages: Msg[], keep = 20): Msg[] {
  const recent = new Map<string, Msg[]>();
  return messages.map((m) => {
    if (m.type !== 'network_status') return m;
    const list = [...m.probes, ...(recent.get(m.node) ?? [])].slice(0, keep);
    recent.set(m.node, list);
    return { ...m, probe_count: list.length, probes: list };
  });
}
