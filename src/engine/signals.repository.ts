import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { Link } from '../incidents/keys.ts';

// Everything the rules read. Every query is set-based (the whole mesh at once,
// or a list of routes / links / nodes joined in one statement) and bounded by
// `time <= now` and a lookback: a tick never scans history, and rows stamped
// after `now` (a replay's future, a fast clock) are not seen yet.
//
// The wide scans are kept to a few per tick: the notable windows (one pass
// over the recent path_probe rows, shared by every path-based rule), the
// recent hop samples (rf_drop) and the nodes table (agent_silent). Everything
// else follows an index from a short list.

/** The partial indexes of migration 0004; a query names their predicate so the planner can use them. */
export const NOTABLE = { jitterMs: 20, lossPct: 1 } as const;
export const BUSY_CPU_PCT = 50;
export const WEAK = { lqBelow: 0.7, babelEtxAbove: 1.5 } as const;

export interface RouteWindow {
  src: string;
  dst: string;
  time: Date;
  jitter_ms: number | null;
  loss_pct: number | null;
  route: string[];
}

// Rows come back with times as epoch milliseconds and hop lists as one
// space-separated string (node names are hostname-like: no spaces): the
// driver's timestamp and array parsers cost more than the queries themselves
// once a read returns a few thousand rows.
const ms = (col: string) => sql.raw(`(extract(epoch FROM ${col}) * 1000)::float8`);
const hops = (col: string) => sql.raw(`array_to_string(${col}, ' ')`);
type RawWindow = Omit<RouteWindow, 'time' | 'route'> & { time: number; route: string };

const asWindow = <T extends { time: Date | string | number; route?: unknown }>(r: T) => ({
  ...r,
  time: new Date(r.time),
  ...(typeof r.route === 'string' ? { route: r.route ? r.route.split(' ') : [] } : {}),
});

/**
 * Windows in (from, now] over either threshold. When the thresholds are at
 * least the partial index's, its predicate is added (implied, so harmless)
 * for the planner's sake.
 */
export async function notableWindows(db: Executor, p: { from: Date; now: Date; jitterMs: number; lossPct: number }): Promise<RouteWindow[]> {
  const indexed: RawBuilder<unknown> =
    p.jitterMs >= NOTABLE.jitterMs && p.lossPct >= NOTABLE.lossPct
      ? sql.raw(`AND (jitter_ms > ${NOTABLE.jitterMs} OR loss_pct > ${NOTABLE.lossPct})`)
      : sql.raw('');
  const { rows } = await sql<RawWindow>`
    SELECT src, dst, ${ms('time')} AS time, jitter_ms, loss_pct, ${hops('route')} AS route
    FROM path_probe
    WHERE time > ${p.from} AND time <= ${p.now}
      AND (jitter_ms > ${p.jitterMs} OR loss_pct > ${p.lossPct}) ${indexed}
    ORDER BY path_probe.time, src, dst`.execute(db);
  return rows.map(asWindow) as RouteWindow[];
}

/** Routes whose windows in (from, now] carry more than one hop list. */
export async function routesWithChangingHops(db: Executor, p: { from: Date; now: Date }): Promise<Array<{ src: string; dst: string }>> {
  const { rows } = await sql<{ src: string; dst: string }>`
    SELECT src, dst FROM path_probe
    WHERE time > ${p.from} AND time <= ${p.now} AND cardinality(route) > 0
    GROUP BY src, dst
    HAVING min(route) <> max(route)`.execute(db);
  return rows;
}

/** Every window in (from, now] of the listed routes, ordered by route and time (follows the (src, dst, time) key). */
export async function windowsOfRoutes(db: Executor, p: { from: Date; now: Date; routes: Array<{ src: string; dst: string }> }): Promise<RouteWindow[]> {
  if (!p.routes.length) return [];
  const { rows } = await sql<RawWindow>`
    SELECT w.src, w.dst, ${ms('w.time')} AS time, w.jitter_ms, w.loss_pct, ${hops('w.route')} AS route
    FROM unnest(${p.routes.map((r) => r.src)}::text[], ${p.routes.map((r) => r.dst)}::text[]) AS l(src, dst)
    JOIN path_probe w ON w.src = l.src AND w.dst = l.dst AND w.time > ${p.from} AND w.time <= ${p.now}
    ORDER BY w.src, w.dst, w.time`.execute(db);
  return rows.map(asWindow) as RouteWindow[];
}

export interface WorstHop {
  src: string;
  dst: string;
  time: Date;
  from_node: string;
  to_node: string;
  etx: number | null;
  min_lq: number | null;
}

/**
 * The worst hop of each listed window: highest ETX, ties to the lowest
 * min(LQ, NLQ). Windows without hop rows, or whose hops carry no measure at
 * all (nothing to rank them by), are missing from the answer. Each
 * window is one exact-time probe of the time index (a handful of rows share
 * an instant): a join would let the planner hash the whole hop table, which
 * it does on a young database that has no statistics yet.
 */
export async function worstHops(db: Executor, windows: Array<{ src: string; dst: string; time: Date }>): Promise<WorstHop[]> {
  if (!windows.length) return [];
  const { rows } = await sql<WorstHop>`
    SELECT w.src, w.dst, ${ms('w.t')} AS time, h.from_node, h.to_node, h.etx, h.min_lq
    FROM unnest(${windows.map((w) => w.src)}::text[], ${windows.map((w) => w.dst)}::text[], ${windows.map((w) => w.time.toISOString())}::timestamptz[]) AS w(src, dst, t)
    CROSS JOIN LATERAL (
      SELECT from_node, to_node, etx, LEAST(lq, nlq) AS min_lq FROM hop_quality
      WHERE time = w.t AND src = w.src AND dst = w.dst AND (etx IS NOT NULL OR lq IS NOT NULL OR nlq IS NOT NULL)
      ORDER BY etx DESC NULLS LAST, LEAST(lq, nlq) ASC NULLS LAST, hop_index
      LIMIT 1
    ) h`.execute(db);
  return rows.map(asWindow);
}

export interface LinkCrossing {
  /** The link crossed (sorted), either way. */
  a: string;
  b: string;
  src: string;
  dst: string;
  time: Date;
}

/** Per listed link: the windows in (since, to] whose hop list crosses it, either way; by link, then time. */
export async function crossingsSince(db: Executor, p: { to: Date; links: Array<{ link: Link; since: Date }> }): Promise<LinkCrossing[]> {
  if (!p.links.length) return [];
  const { rows } = await sql<LinkCrossing>`
    WITH l AS (
      SELECT * FROM unnest(
        ${p.links.map((l) => l.link.a)}::text[],
        ${p.links.map((l) => l.link.b)}::text[],
        ${p.links.map((l) => l.since.toISOString())}::timestamptz[]) AS l(a, b, since)
    )
    SELECT l.a, l.b, h.src, h.dst, ${ms('h.time')} AS time
    FROM l JOIN hop_quality h ON h.from_node = l.a AND h.to_node = l.b AND h.time > l.since AND h.time <= ${p.to}
    UNION ALL
    SELECT l.a, l.b, h.src, h.dst, ${ms('h.time')}
    FROM l JOIN hop_quality h ON h.from_node = l.b AND h.to_node = l.a AND h.time > l.since AND h.time <= ${p.to}
    ORDER BY 1, 2, 5`.execute(db);
  return rows.map(asWindow);
}

export interface CpuSample {
  node: string;
  time: Date;
  cpu_pct: number;
}

/**
 * CPU samples in (from, now] — agent_health rows and the agent block of path
 * results — of the nodes that went over `cpuPct` in that period, and of
 * `nodes`; their low samples too (they end an overload).
 */
export async function cpuSamplesOfBusyNodes(db: Executor, p: { from: Date; now: Date; cpuPct: number; nodes: string[] }): Promise<CpuSample[]> {
  const indexed = p.cpuPct >= BUSY_CPU_PCT ? sql.raw(`AND agent_cpu_pct > ${BUSY_CPU_PCT}`) : sql.raw('');
  const { rows } = await sql<CpuSample>`
    WITH busy AS (
      SELECT node FROM agent_health WHERE time > ${p.from} AND time <= ${p.now} AND cpu_pct > ${p.cpuPct}
      UNION
      SELECT src FROM path_probe WHERE time > ${p.from} AND time <= ${p.now} AND agent_cpu_pct > ${p.cpuPct} ${indexed}
      UNION
      SELECT unnest(${p.nodes}::text[])
    )
    SELECT busy.node, s.time, s.cpu_pct FROM busy CROSS JOIN LATERAL (
      SELECT time, cpu_pct FROM agent_health
      WHERE node = busy.node AND time > ${p.from} AND time <= ${p.now} AND cpu_pct IS NOT NULL
      UNION
      SELECT time, agent_cpu_pct FROM path_probe
      WHERE src = busy.node AND time > ${p.from} AND time <= ${p.now} AND agent_cpu_pct IS NOT NULL
    ) s
    ORDER BY 1, 2`.execute(db);
  return rows.map(asWindow);
}

export interface LinkQuality {
  /** The link (a < b); lq / nlq are oriented a→b (a b→a hop's LQ is the a→b NLQ). */
  a: string;
  b: string;
  recent_n: number;
  recent_etx: number | null;
  recent_lq: number | null;
  recent_nlq: number | null;
  /** Samples without LQ/NLQ (Babel). */
  recent_babel: number;
  base_n: number;
  base_etx: number | null;
  last_at: Date;
}

/**
 * Per link with a reason to look — a recent sample with LQ or NLQ under
 * `lqBelow`, a recent Babel sample with ETX of `babelEtxAbove` or more (a
 * mean cannot cross the threshold without one such sample), or listed — the
 * means of ETX and oriented LQ / NLQ over (recentFrom, now] and of ETX over
 * (baseFrom, recentFrom]. The mesh-wide read touches only the weak samples;
 * each candidate link's history follows the link index.
 */
export async function linkQuality(
  db: Executor,
  p: { baseFrom: Date; recentFrom: Date; now: Date; lqBelow: number; babelEtxAbove: number; links: Link[] },
): Promise<LinkQuality[]> {
  const indexed =
    p.lqBelow <= WEAK.lqBelow && p.babelEtxAbove >= WEAK.babelEtxAbove
      ? sql.raw(`AND (lq < ${WEAK.lqBelow} OR nlq < ${WEAK.lqBelow} OR (lq IS NULL AND nlq IS NULL AND etx >= ${WEAK.babelEtxAbove}))`)
      : sql.raw('');
  const { rows } = await sql<LinkQuality>`
    WITH c AS (
      SELECT LEAST(from_node, to_node) AS a, GREATEST(from_node, to_node) AS b
      FROM hop_quality
      WHERE time > ${p.recentFrom} AND time <= ${p.now} AND from_node <> to_node
        AND (lq < ${p.lqBelow} OR nlq < ${p.lqBelow} OR (lq IS NULL AND nlq IS NULL AND etx >= ${p.babelEtxAbove})) ${indexed}
      UNION
      SELECT * FROM unnest(${p.links.map((l) => l.a)}::text[], ${p.links.map((l) => l.b)}::text[])
    )
    SELECT c.a, c.b, s.*
    FROM c
    CROSS JOIN LATERAL (
      SELECT
        count(*) FILTER (WHERE r) AS recent_n,
        avg(etx) FILTER (WHERE r) AS recent_etx,
        avg(lq) FILTER (WHERE r) AS recent_lq,
        avg(nlq) FILTER (WHERE r) AS recent_nlq,
        count(*) FILTER (WHERE r AND lq IS NULL AND nlq IS NULL) AS recent_babel,
        count(etx) FILTER (WHERE NOT r) AS base_n,
        avg(etx) FILTER (WHERE NOT r) AS base_etx,
        max(time) AS last_at
      FROM (
        SELECT etx, lq, nlq, time, time > ${p.recentFrom} AS r FROM hop_quality
        WHERE from_node = c.a AND to_node = c.b AND time > ${p.baseFrom} AND time <= ${p.now}
        UNION ALL
        SELECT etx, nlq, lq, time, time > ${p.recentFrom} FROM hop_quality
        WHERE from_node = c.b AND to_node = c.a AND time > ${p.baseFrom} AND time <= ${p.now}
      ) h
    ) s
    WHERE s.last_at IS NOT NULL
    ORDER BY 1, 2`.execute(db);
  return rows.map((r) => ({ ...r, last_at: new Date(r.last_at) }));
}

export interface LinkSample {
  /** The link (a < b). */
  a: string;
  b: string;
  src: string;
  dst: string;
  time: Date;
  etx: number | null;
  lq: number | null;
  nlq: number | null;
}

/** The hop samples in (from, now] of the given links, oriented like linkQuality; by link, then time. */
export async function linkSamples(db: Executor, p: { from: Date; now: Date; links: Link[] }): Promise<LinkSample[]> {
  if (!p.links.length) return [];
  const { rows } = await sql<LinkSample>`
    WITH l AS (SELECT * FROM unnest(${p.links.map((l) => l.a)}::text[], ${p.links.map((l) => l.b)}::text[]) AS l(a, b))
    SELECT l.a, l.b, h.src, h.dst, ${ms('h.time')} AS time, h.etx, h.lq, h.nlq
    FROM l JOIN hop_quality h ON h.from_node = l.a AND h.to_node = l.b AND h.time > ${p.from} AND h.time <= ${p.now}
    UNION ALL
    SELECT l.a, l.b, h.src, h.dst, ${ms('h.time')}, h.etx, h.nlq, h.lq
    FROM l JOIN hop_quality h ON h.from_node = l.b AND h.to_node = l.a AND h.time > ${p.from} AND h.time <= ${p.now}
    ORDER BY 1, 2, 5`.execute(db);
  return rows.map(asWindow);
}

// Silence is about arrivals, so a node's reports are placed at received_at: a
// node whose clock lags still reports, and windows buffered and delivered late
// do not hide that nothing arrived meanwhile. `time` still bounds each scan
// (with an hour of slack for lagging clocks) so indexes and chunks prune.

/** Every known node (first seen at or before now) with its latest report received at or before now. */
export async function lastReports(db: Executor, p: { now: Date }): Promise<Array<{ node: string; last_at: Date | null }>> {
  const { rows } = await sql<{ node: string; last_at: Date | null }>`
    SELECT n.node, COALESCE(n.known, fb.at) AS last_at
    FROM (
      SELECT node, CASE WHEN last_received_at <= ${p.now} THEN last_received_at END AS known
      FROM nodes WHERE first_seen <= ${p.now}
    ) n
    LEFT JOIN LATERAL (
      -- nodes.last_received_at is past now only when an earlier instant is re-evaluated
      SELECT max(at) AS at FROM (
        SELECT max(received_at) AS at FROM path_probe
        WHERE n.known IS NULL AND src = n.node AND time <= ${p.now} AND received_at <= ${p.now}
        UNION ALL
        SELECT max(received_at) FROM agent_health
        WHERE n.known IS NULL AND node = n.node AND time <= ${p.now} AND received_at <= ${p.now}
      ) x
    ) fb ON true
    ORDER BY n.node`.execute(db);
  return rows.map((r) => ({ node: r.node, last_at: r.last_at ? new Date(r.last_at) : null }));
}

const reportsOf = (node: RawBuilder<unknown> | string, from: RawBuilder<unknown>, to: RawBuilder<unknown>) => {
  const n = typeof node === 'string' ? sql`${node}` : node;
  return sql`
    SELECT received_at AS at FROM path_probe
    WHERE src = ${n} AND time > ${from} - interval '1 hour' AND time <= ${to} AND received_at > ${from} AND received_at <= ${to}
    UNION
    SELECT received_at FROM agent_health
    WHERE node = ${n} AND time > ${from} - interval '1 hour' AND time <= ${to} AND received_at > ${from} AND received_at <= ${to}
    UNION
    SELECT received_at FROM crash_report
    WHERE node = ${n} AND time > ${from} - interval '1 hour' AND time <= ${to} AND received_at > ${from} AND received_at <= ${to}`;
};

/** Per listed node: the median gap (s) between its reports in the `learnMin` minutes up to its last report. */
export async function usualIntervals(db: Executor, p: { nodes: Array<{ node: string; last_at: Date }>; learnMin: number }): Promise<Map<string, number | null>> {
  if (!p.nodes.length) return new Map();
  const { rows } = await sql<{ node: string; median_gap_s: number | null }>`
    SELECT c.node, iv.median_gap_s
    FROM unnest(${p.nodes.map((n) => n.node)}::text[], ${p.nodes.map((n) => n.last_at.toISOString())}::timestamptz[]) AS c(node, last_at)
    CROSS JOIN LATERAL (
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS median_gap_s FROM (
        SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at)) AS gap
        FROM (${reportsOf(sql.ref('c.node'), sql`c.last_at - make_interval(mins => ${p.learnMin}::int)`, sql.ref('c.last_at'))}) r
      ) g WHERE gap IS NOT NULL
    ) iv`.execute(db);
  return new Map(rows.map((r) => [r.node, r.median_gap_s]));
}

/** Per listed node: the first report received after `since` and at or before now. */
export async function firstReportsAfter(db: Executor, p: { now: Date; nodes: Array<{ node: string; since: Date }> }): Promise<Map<string, Date | null>> {
  if (!p.nodes.length) return new Map();
  const { rows } = await sql<{ node: string; at: Date | null }>`
    SELECT c.node, (
      SELECT min(at) FROM (
        SELECT min(received_at) AS at FROM path_probe
        WHERE src = c.node AND time > c.since - interval '1 hour' AND time <= ${p.now} AND received_at > c.since AND received_at <= ${p.now}
        UNION ALL
        SELECT min(received_at) FROM agent_health
        WHERE node = c.node AND time > c.since - interval '1 hour' AND time <= ${p.now} AND received_at > c.since AND received_at <= ${p.now}
      ) x
    ) AS at
    FROM unnest(${p.nodes.map((n) => n.node)}::text[], ${p.nodes.map((n) => n.since.toISOString())}::timestamptz[]) AS c(node, since)`.execute(db);
  return new Map(rows.map((r) => [r.node, r.at ? new Date(r.at) : null]));
}

/** The first report from any node received after `since` and at or before now. */
export async function firstMeshReportAfter(db: Executor, p: { now: Date; since: Date }): Promise<Date | null> {
  const { rows } = await sql<{ at: Date | null }>`
    SELECT min(at) AS at FROM (
      SELECT min(received_at) AS at FROM path_probe
      WHERE time > ${p.since}::timestamptz - interval '1 hour' AND time <= ${p.now} AND received_at > ${p.since} AND received_at <= ${p.now}
      UNION ALL
      SELECT min(received_at) FROM agent_health
      WHERE time > ${p.since}::timestamptz - interval '1 hour' AND time <= ${p.now} AND received_at > ${p.since} AND received_at <= ${p.now}
    ) x`.execute(db);
  return rows[0]?.at ? new Date(rows[0].at) : null;
}

/**
 * The links seen in (from, now] that touch one of `nodes`: every hop of
 * hop_quality, and every pair of consecutive nodes in the hop list of a
 * window in which nothing came back (such a window has no hop rows, but its
 * path still shows the way into what it could not reach; an answered
 * window's hops are all in hop_quality). As sorted pairs, once each. Read
 * only while a partition is possible, for the nodes that are not reporting:
 * the links among reporting nodes never matter to it.
 */
export async function linksTouching(db: Executor, p: { from: Date; now: Date; nodes: string[] }): Promise<Link[]> {
  if (!p.nodes.length) return [];
  const lost = sql.raw(`AND (jitter_ms > ${NOTABLE.jitterMs} OR loss_pct > ${NOTABLE.lossPct})`);
  const { rows } = await sql<Link>`
    WITH n AS (SELECT unnest(${p.nodes}::text[]) AS node)
    SELECT DISTINCT LEAST(x, y) AS a, GREATEST(x, y) AS b FROM (
      SELECT from_node AS x, to_node AS y FROM hop_quality
      WHERE time > ${p.from} AND time <= ${p.now}
        AND (from_node IN (SELECT node FROM n) OR to_node IN (SELECT node FROM n))
      UNION ALL
      SELECT r.route[i], r.route[i + 1]
      FROM (
        SELECT DISTINCT route FROM path_probe
        WHERE time > ${p.from} AND time <= ${p.now} AND loss_pct >= 100 AND cardinality(route) > 1 ${lost}
      ) r
      CROSS JOIN LATERAL generate_series(1, cardinality(r.route) - 1) AS i
      WHERE r.route[i] IN (SELECT node FROM n) OR r.route[i + 1] IN (SELECT node FROM n)
    ) e
    WHERE x <> y
    ORDER BY 1, 2`.execute(db);
  return rows;
}

/**
 * Per listed node (routers that send no reports of their own): the latest
 * hop sample in (since, now] through it from a window in which a probe came
 * back — the router was up then. Nodes without one are missing.
 */
export async function lastAnsweredThrough(db: Executor, p: { nodes: string[]; since: Date; now: Date }): Promise<Map<string, number>> {
  if (!p.nodes.length) return new Map();
  const { rows } = await sql<{ node: string; at: number }>`
    WITH n AS (SELECT unnest(${p.nodes}::text[]) AS node)
    SELECT x.node, ${ms('max(x.time)')} AS at FROM (
      SELECT from_node AS node, time, src, dst FROM hop_quality WHERE time > ${p.since} AND time <= ${p.now} AND from_node IN (SELECT node FROM n)
      UNION ALL
      SELECT to_node, time, src, dst FROM hop_quality WHERE time > ${p.since} AND time <= ${p.now} AND to_node IN (SELECT node FROM n)
    ) x
    WHERE EXISTS (
      SELECT 1 FROM path_probe w
      WHERE w.src = x.src AND w.dst = x.dst AND w.time = x.time AND (w.loss_pct IS NULL OR w.loss_pct < 100)
    )
    GROUP BY x.node`.execute(db);
  return new Map(rows.map((r) => [r.node, Number(r.at)]));
}
