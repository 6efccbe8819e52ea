import type { LinkScope } from '../../incidents/incident.schema.ts';
import { link, linkKey, routeKey, uniqueRoutes, type Link } from '../../incidents/keys.ts';
import { MINUTE, type Finding, type Rule, type Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import { linkQuality, linkSamples, type LinkQuality, type LinkSample } from '../signals.repository.ts';
import { openLinks } from './common.ts';

export interface RfVerdict {
  triggered: boolean;
  babel: boolean;
  ratio: number | null;
  severity: 'major' | 'critical';
}

/**
 * spec: over the last recent_min, mean ETX above the mean of the baseline_min
 * before, and mean LQ or NLQ under lq_below; links without LQ/NLQ (Babel) on
 * ETX alone, rising by babel_etx_rise. Too few samples on either side: no verdict.
 */
export function judgeLink(q: LinkQuality, cfg: RulesConfig['rf_drop']): RfVerdict {
  const babel = q.recent_n > 0 && q.recent_babel === q.recent_n;
  const none: RfVerdict = { triggered: false, babel, ratio: null, severity: 'major' };
  if (q.recent_n < cfg.min_samples || q.base_n < cfg.min_samples || q.recent_etx === null || !q.base_etx) return none;
  const ratio = q.recent_etx / q.base_etx;
  const minLq = Math.min(q.recent_lq ?? Infinity, q.recent_nlq ?? Infinity);
  const triggered = babel ? ratio >= 1 + cfg.babel_etx_rise : ratio > 1 + cfg.etx_rise_min && minLq < cfg.lq_below;
  const severity = ratio >= cfg.critical_etx_ratio || minLq < cfg.critical_lq_below ? 'critical' : 'major';
  return { triggered, babel, ratio, severity };
}

/** A sample that shows the drop: LQ or NLQ under the threshold with ETX above baseline, or (Babel) ETX risen enough. */
function degraded(s: LinkSample, q: LinkQuality, v: RfVerdict, cfg: RulesConfig['rf_drop']): boolean {
  if (s.etx === null || !q.base_etx) return false;
  if (v.babel) return s.etx >= q.base_etx * (1 + cfg.babel_etx_rise);
  return s.etx > q.base_etx && Math.min(s.lq ?? Infinity, s.nlq ?? Infinity) < cfg.lq_below;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export const rf_drop: Rule = {
  kind: 'rf_drop',
  async evaluate(db, ctx) {
    const cfg = ctx.rules.rf_drop;
    const now = ctx.now;
    const recentFrom = new Date(now.getTime() - cfg.recent_min * MINUTE);
    const baseFrom = new Date(recentFrom.getTime() - cfg.baseline_min * MINUTE);
    const open = openLinks(ctx, 'rf_drop');
    // Only links that could trigger get a baseline: LQ/NLQ already under the
    // threshold, or (Babel) an ETX that can be 1 + babel_etx_rise times any baseline (ETX >= 1).
    const quality = await linkQuality(db, { baseFrom, recentFrom, now, lqBelow: cfg.lq_below, babelEtxAbove: 1 + cfg.babel_etx_rise, links: [...open.values()] });

    const judged = quality.map((q) => ({ q, l: link(q.a, q.b), v: judgeLink(q, cfg) })).filter(({ l, v }) => v.triggered || open.has(linkKey(l)));
    const triggered: Link[] = judged.filter(({ v }) => v.triggered).map(({ l }) => l);
    const samples = await linkSamples(db, { from: recentFrom, now, links: triggered });
    const byLink = new Map<string, LinkSample[]>();
    for (const s of samples) {
      const k = linkKey(s.a, s.b);
      let l = byLink.get(k);
      if (!l) byLink.set(k, (l = []));
      l.push(s);
    }

    const findings: Finding[] = [];
    for (const { q, l, v } of judged) {
      const scope: LinkScope = { type: 'link', ...l };
      const ss = byLink.get(linkKey(l)) ?? [];
      const runs: Run[] = [];
      if (v.triggered && ss.length) {
        const bad = ss.filter((s) => degraded(s, q, v, cfg));
        const minLq = Math.min(...ss.map((s) => Math.min(s.lq ?? Infinity, s.nlq ?? Infinity)));
        runs.push({
          start: (bad[0] ?? ss[0]!).time,
          end: ss.at(-1)!.time,
          clearAt: null,
          severity: v.severity,
          peaks: {
            etx_ratio: round(v.ratio!),
            // The baseline before the drop: later baselines take the drop in.
            min_baseline_etx: round(q.base_etx!),
            recent_etx: round(q.recent_etx!),
            etx_max: Math.max(...ss.map((s) => s.etx ?? 0)),
            ...(Number.isFinite(minLq) ? { min_lq: minLq } : {}),
            ...(q.recent_lq !== null ? { min_recent_lq: round(q.recent_lq) } : {}),
            ...(q.recent_nlq !== null ? { min_recent_nlq: round(q.recent_nlq) } : {}),
          },
          windows: (bad.length ? bad : ss).slice(0, 10).map((s) => ({
            at: s.time.toISOString(), route: routeKey(s.src, s.dst), etx: s.etx, lq: s.lq, nlq: s.nlq,
          })),
        });
      }
      findings.push({
        kind: 'rf_drop',
        scope,
        runs,
        lastDataAt: q.last_at,
        routes: uniqueRoutes(ss),
        nodes: [l.a, l.b],
        links: [l],
        evidence: {
          thresholds: v.babel
            ? { babel_etx_rise: cfg.babel_etx_rise, critical_etx_ratio: cfg.critical_etx_ratio }
            : { lq_below: cfg.lq_below, etx_rise_min: cfg.etx_rise_min, critical_etx_ratio: cfg.critical_etx_ratio, critical_lq_below: cfg.critical_lq_below },
          babel: v.babel,
          recent_min: cfg.recent_min,
          baseline_min: cfg.baseline_min,
          pattern: 'steady',
        },
      });
    }
    return findings;
  },
};
