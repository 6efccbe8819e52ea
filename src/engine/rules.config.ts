import { readFileSync } from 'node:fs';
import { z } from 'zod';

// Every threshold of spec/rules.md, with its default. One JSON file (RULES_FILE)
// may override any subset; unknown keys are errors so a typo never silently
// falls back to a default.

const minutes = z.number().positive();
const fraction = z.number().min(0).max(1);
const pct = z.number().min(0).max(100);
const count = z.number().int().min(1);

const Lifecycle = z.strictObject({
  /** Clear data needed before an incident closes. */
  close_after_min: minutes.default(15),
  /** No data at all for this long closes an incident with evidence.closed_by = "no_data". */
  stale_close_after_min: minutes.default(60),
  /** Longest list of routes kept in impact.routes. */
  max_routes_listed: count.default(20),
  /** Most triggering windows kept in evidence. */
  max_evidence_windows: count.default(20),
});

const RfDrop = z.strictObject({
  recent_min: minutes.default(10),
  baseline_min: minutes.default(60),
  lq_below: fraction.default(0.7),
  /** Babel hops (no LQ/NLQ): ETX must rise by this fraction over its baseline. */
  babel_etx_rise: z.number().positive().default(0.5),
  /**
   * "Rising" for LQ/NLQ links: recent mean ETX above baseline × (1 + this).
   * A small margin keeps a chronically weak link from opening an incident on
   * every wiggle of its ETX.
   */
  etx_rise_min: z.number().min(0).default(0.1),
  critical_etx_ratio: z.number().gt(1).default(2),
  critical_lq_below: fraction.default(0.4),
  /** Fewer hop samples than this in either period is not enough to judge a link. */
  min_samples: count.default(3),
});

const JitterBurst = z.strictObject({
  jitter_ms: z.number().positive().default(30),
  consecutive: count.default(3),
  critical_factor: z.number().gt(1).default(2),
});

const LossSpike = z.strictObject({
  loss_pct: pct.default(2),
  consecutive: count.default(2),
  mean_loss_pct: pct.default(1),
  mean_window_min: minutes.default(10),
  /** A mean over fewer windows than this is not a mean (one lossy window is noise). */
  mean_min_windows: count.default(5),
  /** …and at least this many of them over mean_loss_pct: one lossy window is noise, not a mean. */
  mean_min_lossy_windows: count.default(2),
  critical_loss_pct: pct.default(20),
});

const RouteFlap = z.strictObject({
  distinct_routes: z.number().int().min(2).default(3),
  window_min: minutes.default(5),
  major_at: z.number().int().min(2).default(5),
});

const Bottleneck = z.strictObject({
  bad_windows: count.default(5),
  distinct_routes: count.default(2),
  window_min: minutes.default(30),
  critical_routes: count.default(3),
});

const NodeOverload = z.strictObject({
  cpu_pct: pct.default(80),
  /** "At the same time" = within this many seconds (one probe interval). */
  probe_interval_s: z.number().positive().default(40),
  /** Bad windows through the node needed, with high CPU, to call it overloaded. */
  bad_windows: count.default(2),
});

const AgentSilent = z.strictObject({
  interval_factor: z.number().positive().default(3),
  min_silence_min: minutes.default(5),
  major_after_min: minutes.default(30),
  /** How far back a node's usual report interval is learnt. */
  learn_min: minutes.default(60),
  /**
   * A node silent this long is gone for good: its incident closes with
   * closed_by "retired", /registry shows it retired, and nothing opens for it
   * until it reports again.
   */
  retire_after_days: z.number().positive().default(7),
}).superRefine((c, ctx) => {
  if (c.retire_after_days * 24 * 60 <= Math.max(c.min_silence_min, c.major_after_min)) {
    ctx.addIssue({ code: 'custom', path: ['retire_after_days'], message: 'must be longer than min_silence_min and major_after_min' });
  }
});

const Partition = z.strictObject({
  /** The topology (links from hop data and routes) is what was seen over this span. */
  topology_min: minutes.default(60),
  /** Nodes that must fall silent together behind one link (or site) to make a partition. */
  min_nodes: z.number().int().min(2).default(2),
  /** Critical when at least this share of the known nodes is behind it. */
  critical_share: fraction.default(0.25),
});

const AgentMisreport = z.strictObject({
  /** The span judged, minutes. */
  window_min: minutes.default(30),
  /** "Most": more than this share of a kind's new measurements dropped or stored without a part. */
  dropped_fraction: z.number().gt(0).lt(1).default(0.5),
  /** Fewer new measurements of a kind in the window than this say nothing. */
  min_measurements: count.default(5),
});

export const RulesConfig = z.strictObject({
  lifecycle: Lifecycle.default(() => Lifecycle.parse({})),
  rf_drop: RfDrop.default(() => RfDrop.parse({})),
  jitter_burst: JitterBurst.default(() => JitterBurst.parse({})),
  loss_spike: LossSpike.default(() => LossSpike.parse({})),
  route_flap: RouteFlap.default(() => RouteFlap.parse({})),
  bottleneck: Bottleneck.default(() => Bottleneck.parse({})),
  node_overload: NodeOverload.default(() => NodeOverload.parse({})),
  agent_silent: AgentSilent.default(() => AgentSilent.parse({})),
  partition: Partition.default(() => Partition.parse({})),
  agent_misreport: AgentMisreport.default(() => AgentMisreport.parse({})),
});
export type RulesConfig = z.infer<typeof RulesConfig>;

export const DEFAULT_RULES: RulesConfig = deepFreeze(RulesConfig.parse({}));

export class RulesFileError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`invalid rules file ${file}:\n  ${problems.join('\n  ')}`);
    this.name = 'RulesFileError';
  }
}

/** Parses a rules object (missing keys take their defaults); `source` names it in errors. */
export function parseRules(input: unknown, source = '(rules)'): RulesConfig {
  const parsed = RulesConfig.safeParse(input ?? {});
  if (!parsed.success) {
    throw new RulesFileError(source, parsed.error.issues.map((i) => {
      const keys = i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k].join('.')).join(', ') : i.path.join('.');
      return `${keys || '(root)'}: ${i.message}`;
    }));
  }
  return deepFreeze(parsed.data);
}

/** Reads and validates RULES_FILE; the error names the file and every bad key. */
export function loadRulesFile(file: string): RulesConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RulesFileError(file, [`cannot read: ${(err as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RulesFileError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseRules(json, file);
}

/** RULES_FILE when set, else the defaults. */
export function rulesFromConfig(config: { RULES_FILE?: string | undefined }): RulesConfig {
  return config.RULES_FILE ? loadRulesFile(config.RULES_FILE) : DEFAULT_RULES;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
