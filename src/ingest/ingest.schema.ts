import { z } from 'zod';

// The `meshmon.v1` agent contract (shared/spec/contract.md). These schemas are
// the request contract of POST /ingest and go into /openapi.json as they are,
// so they stay JSON-Schema friendly: no transforms; checks that JSON Schema
// cannot say (route ends, real calendar dates) are refinements, which
// z.toJSONSchema skips. Normalisation into rows is the service's job.
//
// Objects are loose on purpose: agents evolve faster than collectors, and the
// fields we do not know are stored in the rows' `extra`, not dropped.

export const SCHEMA_VERSION = 'meshmon.v1';

export const MESSAGE_TYPES = ['path_result', 'hop_result', 'agent_health', 'network_status', 'crash_report'] as const;
export const MessageType = z.enum(MESSAGE_TYPES);
export type MessageType = z.infer<typeof MessageType>;

// PostgreSQL column limits: a bigger value must be a 422 here, not an
// "out of range" error from the INSERT.
const INT2_MAX = 32_767;
const INT4_MAX = 2_147_483_647;

/**
 * Hostname-like: labels of letters, digits, `-` and `_` (AREDN names use both),
 * 1–63 characters each, joined by dots; 253 characters at most.
 */
export const NodeName = z
  .string()
  .max(253)
  .regex(/^[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*$/, 'must be a hostname-like node name (letters, digits, "-", "_", "." ; labels of 1–63 characters)')
  .meta({ description: 'Hostname-like node name', examples: ['KX6ABC-HAP-2'] });

const FIRST_INSTANT = Date.parse('0001-01-01T00:00:00Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/** ISO-8601 with a zone (`Z` or `±hh:mm`); a local time cannot be placed on the timeline. */
export const Timestamp = z
  .iso.datetime({ offset: true, error: 'must be an ISO-8601 date-time with a zone (Z or ±hh:mm)' })
  .refine((s) => {
    const ms = Date.parse(s);
    // PostgreSQL's timestamptz has no year 0 and reads no 5-digit ISO years; an
    // offset can carry 0000 or 9999 across either edge.
    return ms >= FIRST_INSTANT && ms <= LAST_INSTANT;
  }, 'is not a date-time between years 1 and 9999')
  .meta({ examples: ['2026-03-02T07:15:00Z'] });

const Percent = z.number().min(0).max(100);
const NonNegative = z.number().min(0);
const Quality = z.number().min(0).max(1);
const Etx = z.number().min(1);
const Count = z.number().int().min(0).max(INT4_MAX);
const Text = (max = 256) => z.string().max(max);

const header = {
  schema: z.literal(SCHEMA_VERSION),
  sent_at: Timestamp,
};

export const PathMetrics = z.looseObject({
  rtt_ms_avg: NonNegative.nullable().optional(),
  jitter_ms_rfc3550: NonNegative.nullable().optional(),
  loss_pct: Percent.nullable().optional(),
});
export type PathMetrics = z.infer<typeof PathMetrics>;

export const AgentInfo = z.looseObject({
  ver: Text(64).nullable().optional(),
  cpu_pct: Percent.nullable().optional(),
  mem_mb: NonNegative.nullable().optional(),
});
export type AgentInfo = z.infer<typeof AgentInfo>;

/** A non-empty route is src first, dst last; an empty one means the agent could not read it. */
function routeEnds(route: string[], src: string, dst: string): boolean {
  return route.length === 0 || (route[0] === src && route[route.length - 1] === dst);
}

export const PathResult = z
  .looseObject({
    ...header,
    type: z.literal('path_result'),
    src: NodeName,
    dst: NodeName,
    window_s: z.number().int().min(1).max(INT2_MAX).default(5),
    route: z.array(NodeName).max(255).meta({ description: 'Hops at send time, src first and dst last; empty when unknown' }),
    metrics: PathMetrics,
    agent: AgentInfo.optional(),
  })
  .refine((m) => routeEnds(m.route, m.src, m.dst), { path: ['route'], message: 'a non-empty route must start at src and end at dst' })
  .meta({ id: 'PathResult', description: 'One probe window from src to dst (reference guide §11)' });
export type PathResult = z.infer<typeof PathResult>;

export const HopResult = z
  .looseObject({
    ...header,
    type: z.literal('hop_result'),
    src: NodeName,
    dst: NodeName,
    hop_index: z.number().int().min(0).max(INT2_MAX),
    hop: z.looseObject({ from: NodeName, to: NodeName }),
    l2: z
      .looseObject({
        lq: Quality.nullable().optional(),
        nlq: Quality.nullable().optional(),
        etx: Etx.nullable().optional(),
      })
      .optional()
      .meta({ description: 'Link-layer quality; Babel-era agents may send other metrics (rxcost, snr, …), kept in extra' }),
  })
  .meta({ id: 'HopResult', description: 'Link quality of one hop of the src→dst route in one window (reference guide §11)' });
export type HopResult = z.infer<typeof HopResult>;

/** Field agents send "unknown" for positions they do not have. */
const Coordinate = z.union([z.number(), Text(64)]);

export const AgentHealth = z
  .looseObject({
    ...header,
    type: z.literal('agent_health'),
    node: NodeName,
    cpu_pct: Percent,
    mem_mb: NonNegative,
    queue_len: Count,
    neighbors_seen: Count.optional(),
    routing_daemon: Text(32).optional(),
    lat: Coordinate.optional(),
    lon: Coordinate.optional(),
    grid_square: Text(16).optional(),
    hardware_model: Text(128).optional(),
    firmware_version: Text(64).optional(),
    agent_version: Text(64).optional(),
  })
  .meta({ id: 'AgentHealth', description: 'Agent self-report; the upstream agent omits neighbors_seen and adds more fields (kept in extra)' });
export type AgentHealth = z.infer<typeof AgentHealth>;

export const ProbeHop = z.looseObject({
  node: NodeName,
  interface: Text(64).nullable().optional(),
  link_type: Text(32).nullable().optional().meta({ description: "AREDN's link type: RF, DTD, TUN, …" }),
  lq: Quality.nullable().optional(),
  nlq: Quality.nullable().optional(),
  etx: Etx.nullable().optional(),
  rtt_ms: NonNegative.nullable().optional(),
});
export type ProbeHop = z.infer<typeof ProbeHop>;

export const Probe = z
  .looseObject({
    dst_node: NodeName,
    dst_ip: Text(64).nullable().optional(),
    timestamp: Timestamp,
    routing_daemon: Text(32).nullable().optional(),
    rtt_ms_avg: NonNegative.nullable().optional(),
    jitter_ms: NonNegative.nullable().optional(),
    loss_pct: Percent.nullable().optional(),
    hop_count: Count.nullable().optional(),
    path: z.array(ProbeHop).max(255).default([]).meta({ description: 'Hops after the source, in order; the last is dst_node' }),
  })
  .refine((p) => p.path.length === 0 || p.path[p.path.length - 1]!.node === p.dst_node, {
    path: ['path'],
    message: 'a non-empty path must end at dst_node',
  });
export type Probe = z.infer<typeof Probe>;

export const NetworkStatus = z
  .looseObject({
    ...header,
    type: z.literal('network_status'),
    node: NodeName,
    routing_daemon: Text(32).optional(),
    probe_count: Count.optional(),
    probes: z.array(Probe),
  })
  .meta({ id: 'NetworkStatus', description: "The upstream agent's compound report: each probe is a path result from node to dst_node at its timestamp" });
export type NetworkStatus = z.infer<typeof NetworkStatus>;

export const CrashReport = z
  .looseObject({
    ...header,
    type: z.literal('crash_report'),
    node: NodeName,
    crash_time: Timestamp.nullable().optional(),
    signal: z.number().int().min(0).max(INT4_MAX).nullable().optional(),
    signal_name: Text(32).nullable().optional(),
    reason: Text(1024).nullable().optional(),
    restart_count: Count.nullable().optional(),
    uptime_before_crash: z.number().int().min(0).nullable().optional(),
  })
  .meta({ id: 'CrashReport', description: 'The upstream agent reports a crash of itself after restarting' });
export type CrashReport = z.infer<typeof CrashReport>;

export const AgentMessage = z
  .discriminatedUnion('type', [PathResult, HopResult, AgentHealth, NetworkStatus, CrashReport])
  .meta({ id: 'AgentMessage' });
export type AgentMessage = z.infer<typeof AgentMessage>;

export const IngestBody = z
  .union([AgentMessage, z.array(AgentMessage)])
  .meta({ id: 'IngestBody', description: 'One message or a batch; a batch is stored all-or-nothing' });
export type IngestBody = z.infer<typeof IngestBody>;

const TypeCounts = z.object({
  path_result: z.number().int(),
  hop_result: z.number().int(),
  agent_health: z.number().int(),
  network_status: z.number().int(),
  crash_report: z.number().int(),
});
export type TypeCounts = z.infer<typeof TypeCounts>;

const RowCounts = z.object({ inserted: z.number().int(), duplicates: z.number().int() });

export const IngestResult = z.object({
  messages: z.number().int().meta({ description: 'Messages in the request' }),
  accepted: TypeCounts.meta({ description: 'Messages stored now, by type' }),
  duplicates: TypeCounts.meta({ description: 'Messages already stored (a retry), by type: not stored again' }),
  rows: z
    .object({ path_probe: RowCounts, hop_quality: RowCounts, agent_health: RowCounts, crash_report: RowCounts })
    .meta({ description: 'Rows per table; network_status fans out into path_probe and hop_quality rows' }),
  clock_skewed: z.number().int().meta({ description: 'Messages whose sent_at lay too far in the future: stored at the receive time' }),
  nodes: z.number().int().meta({ description: 'Distinct sending nodes updated in the registry' }),
});
export type IngestResult = z.infer<typeof IngestResult>;

export const IngestResponse = IngestResult.extend({
  received_at: z.iso.datetime(),
}).meta({ id: 'IngestResponse', description: 'Answered only after the transaction committed' });
export type IngestResponse = z.infer<typeof IngestResponse>;
