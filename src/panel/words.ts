// What the panel says in words: scopes, durations, the evidence the engine
// recorded and the timeline's events. Pure functions of the API's JSON.

type Json = Record<string, unknown>;
export type ScopeJson = { type: 'route'; src: string; dst: string } | { type: 'link'; a: string; b: string } | { type: 'node'; node: string };

export function scopeText(s: ScopeJson): string {
  switch (s.type) {
    case 'route': return `route ${s.src} → ${s.dst}`;
    case 'link': return `link ${s.a} ↔ ${s.b}`;
    case 'node': return s.node === '*' ? 'every node' : `node ${s.node}`;
  }
}

export function durationText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** "2026-03-02 10:42 UTC": what a page shows before its script localises it. */
export function utc(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '—';
}

const num = (v: unknown, digits = 1): string | null => (typeof v === 'number' && Number.isFinite(v) ? String(Math.round(v * 10 ** digits) / 10 ** digits) : null);
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});

/** The evidence of one incident as a few sentences an operator can read. */
export function evidenceInWords(kind: string, evidence: Json): string[] {
  const peaks = obj(evidence.peaks);
  const thr = obj(evidence.thresholds);
  const out: string[] = [];
  switch (kind) {
    case 'jitter_burst':
      out.push(`Jitter above ${num(thr.jitter_ms) ?? 30} ms in ${num(peaks.consecutive_windows, 0) ?? 'several'} consecutive windows (the rule wants ${num(thr.consecutive, 0) ?? 3}); worst ${num(peaks.jitter_ms) ?? '?'} ms${thr.critical_above_ms ? `, critical above ${num(thr.critical_above_ms)} ms` : ''}.`);
      break;
    case 'loss_spike':
      out.push(`Packet loss above ${num(thr.loss_pct) ?? 2} % in consecutive windows (or a mean above ${num(thr.mean_loss_pct) ?? 1} % over ${num(thr.mean_window_min, 0) ?? 10} min); worst ${num(peaks.loss_pct, 2) ?? '?'} %.`);
      break;
    case 'rf_drop':
      out.push(`Link quality fell: LQ down to ${num(peaks.min_recent_lq ?? peaks.min_lq, 2) ?? '?'}, NLQ down to ${num(peaks.min_recent_nlq, 2) ?? '?'} (the rule's floor is ${num(thr.lq_below, 2) ?? 0.7}).`);
      if (peaks.etx_ratio !== undefined) out.push(`ETX over the last ${num(evidence.recent_min, 0) ?? 10} min was ${num(peaks.recent_etx, 2) ?? '?'}, ${num(peaks.etx_ratio, 1)}× its baseline of ${num(peaks.min_baseline_etx, 2) ?? '?'} (worst ${num(peaks.etx_max, 2) ?? '?'}).`);
      break;
    case 'route_flap': {
      const lists = Array.isArray(evidence.hop_lists) ? evidence.hop_lists.length : null;
      out.push(`The route took ${num(peaks.distinct_hop_lists, 0) ?? lists ?? 'several'} different hop lists within ${num(thr.window_min, 0) ?? 5} min (the rule wants ${num(thr.distinct_hop_lists, 0) ?? 3}).`);
      if (Array.isArray(evidence.unstable_hops) && evidence.unstable_hops.length) out.push(`Hops that came and went: ${(evidence.unstable_hops as string[]).join(', ')}.`);
      break;
    }
    case 'bottleneck':
      out.push(`This link was the worst hop of ${num(peaks.bad_windows, 0) ?? 'many'} bad windows on ${num(peaks.routes, 0) ?? 'several'} different routes within ${num(thr.window_min, 0) ?? 30} min (the rule wants ${num(thr.bad_windows, 0) ?? 5} from ${num(thr.distinct_routes, 0) ?? 2} routes); its ETX peaked at ${num(peaks.etx, 2) ?? '?'}.`);
      break;
    case 'node_overload':
      out.push(`The agent reported CPU up to ${num(peaks.cpu_pct) ?? '?'} % while ${num(peaks.bad_windows, 0) ?? 'several'} windows on routes from or through the node were bad.`);
      break;
    case 'agent_silent':
      if (evidence.nodes_known !== undefined) out.push(`None of the ${num(evidence.nodes_known, 0)} known agents has been heard since ${utc(evidence.last_report_at as string | null)}: the collector or its uplink, not the mesh.`);
      else out.push(`Nothing heard from the agent for ${durationText(Number(peaks.silent_s ?? 0) * 1000)} (it usually reports every ${num(evidence.usual_interval_s, 0) ?? '?'} s; silence counts after ${num(evidence.silence_threshold_s, 0) ?? '?'} s).`);
      break;
    case 'partition': {
      const group = Array.isArray(evidence.group) ? (evidence.group as string[]) : null;
      out.push(`Sites fell silent together while the rest of the mesh kept reporting${group ? `: ${group.join(', ')}` : ''}.`);
      break;
    }
  }
  if (evidence.closed_by === 'no_data') out.push('Closed because no data arrived for its scope any more (missing data is not health).');
  if (evidence.closed_by === 'retired') out.push('Closed because the node has been silent long enough to be retired.');
  if (!out.length) {
    for (const [k, v] of Object.entries(peaks)) out.push(`Peak ${k.replaceAll('_', ' ')}: ${typeof v === 'number' ? num(v, 2) : JSON.stringify(v)}.`);
  }
  return out;
}

/** One timeline event in words. */
export function eventInWords(event: string, detail: Json): string {
  switch (event) {
    case 'opened': return `Opened${detail.severity ? ` as ${detail.severity}` : ''}`;
    case 'severity_changed': return `Severity ${detail.from ?? '?'} → ${detail.to ?? '?'}`;
    case 'reparented': return detail.to || detail.parent_id ? `Attached to its cause ${String(detail.to ?? detail.parent_id)}` : 'Parent changed';
    case 'clearing': return 'Condition cleared; waiting before closing';
    case 'active_again': return 'Condition back before it could close';
    case 'closed': return `Closed${detail.closed_by && detail.closed_by !== 'clear' ? ` (${String(detail.closed_by).replaceAll('_', ' ')})` : ''}`;
    case 'acknowledged': return `Acknowledged by ${detail.by ?? '?'}${detail.note ? `: ${detail.note}` : ''}`;
    case 'note': return `Note by ${detail.by ?? '?'}: ${detail.note ?? ''}`;
    default: return `${event.replaceAll('_', ' ')}${Object.keys(detail).length ? ` ${JSON.stringify(detail)}` : ''}`;
  }
}
