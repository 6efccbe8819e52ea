import type { Metrics } from '../metrics.ts';

/**
 * Requests no route serves. Writes among them are usually an agent with the
 * wrong URL (`/ingest/`, `/api/ingest`): their paths are kept as metric
 * labels, so `meshmon doctor` and Prometheus can name them — the most recent
 * few only, so a scanner cannot grow the metrics.
 */
export const UNKNOWN_PATHS_KEPT = 10;
const MAX_PATH_CHARS = 120;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

type Seen = Map<string, { method: string; path: string }>;
const recent = new WeakMap<Metrics, Seen>();

export function recordUnknownPath(m: Metrics, method: string, path: string, at: Date): void {
  const verb = METHODS.has(method) ? method : 'OTHER';
  m.unknownPathRequests.inc({ method: verb });
  if (!WRITES.has(verb)) return;
  const p = path.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, MAX_PATH_CHARS);
  let seen = recent.get(m);
  if (!seen) recent.set(m, (seen = new Map()));
  const key = `${verb} ${p}`;
  seen.delete(key); // re-inserted last: the map's order is least recently seen first
  seen.set(key, { method: verb, path: p });
  m.unknownPathLastSeen.set({ method: verb, path: p }, at.getTime() / 1000);
  for (const [k, v] of seen) {
    if (seen.size <= UNKNOWN_PATHS_KEPT) break;
    seen.delete(k);
    m.unknownPathLastSeen.remove({ method: v.method, path: v.path });
  }
}
