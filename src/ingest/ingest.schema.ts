import { z } from 'zod';

// The `meshmon.v1` agent contract (shared/spec/contract.md) as /openapi.json
// describes it: what a message should look like, including the forms the
// upstream agent really sends (an empty dst_node, hops named by address, 0
// for values it never fills). The collector reads messages more leniently
// than this (ingest.read.ts): a part that breaks these rules is dropped alone
// and named in the answer, so these schemas are the documentation of the
// contract and the answer's shape, not a gate on the whole message.
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
 * Hostname-like: labels of letters, digits, `-` and `_` (AREDN names use both)
 * joined by dots, at most 63 characters once a trailing `.local.mesh` is taken
 * off. A mesh IPv4 address is a node's name until the collector learns the
 * name behind it.
 */
export const NodeName = z
  .string()
  .max(253)
  .regex(/^[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*$/, 'must be a hostname-like node name (letters, digits, "-", "_", "." ; at most 63 characters)')
  .meta({ description: 'Hostname-like node name (at most 63 characters without ".local.mesh"), or a mesh IPv4 address', examples: ['KX6ABC-HAP-2', '10.54.13.1'] });

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
function routeEnds(route: string[] | undefined, src: string, dst: string): boolean {
  return !route || route.length === 0 || (route[0] === src && route[route.length - 1] === dst);
}

export const PathResult = z
  .looseObject({
    ...header,
    type: z.literal('path_result'),
    src: NodeName,
    dst: NodeName,
    window_s: z.number().int().min(1).max(INT2_MAX).default(5),
    route: z.array(NodeName).max(255).optional().meta({ description: 'Hops at send time, src first and dst last; empty or absent when unknown' }),
    metrics: PathMetrics.optional(),
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
        lq: Quality.nullable().optional().meta({ description: '0 means unknown' }),
        nlq: Quality.nullable().optional().meta({ description: '0 means unknown' }),
        etx: Etx.or(z.literal(0)).nullable().optional().meta({ description: 'ETX ≥ 1; 0 means unknown' }),
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
    cpu_pct: Percent.optional(),
    mem_mb: NonNegative.optional(),
    queue_len: Count.optional(),
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
  node: NodeName.meta({ description: 'The hop’s far end: a node name or, as the upstream agent sends it, a mesh IPv4 address' }),
  interface: Text(64).nullable().optional(),
  link_type: Text(32).nullable().optional().meta({ description: 'RF, tunnel, ethernet, bridge, DTD, TUN …; "unknown" is no information' }),
  lq: Quality.nullable().optional().meta({ description: '0 means unknown (the upstream agent never fills it)' }),
  nlq: Quality.nullable().optional().meta({ description: '0 means unknown (the upstream agent never fills it)' }),
  etx: z.number().min(0).nullable().optional().meta({
    description: 'OLSR ETX (≥ 1; 0 means unknown). With routing_daemon "babel" this is the Babel metric / 256: kept as extra.babel_metric, never used as an ETX',
  }),
  rtt_ms: NonNegative.nullable().optional().meta({ description: '0 means unknown (the upstream agent never fills it)' }),
});
export type ProbeHop = z.infer<typeof ProbeHop>;

export const Probe = z.looseObject({
  dst_node: z.union([NodeName, z.literal('')]).meta({
    description: 'The destination’s name; "" when the agent could not read its routing daemon (the probe is then identified by dst_ip and stored without hops)',
  }),
  dst_ip: Text(64).nullable().optional().meta({ description: 'The destination’s address: its identity when dst_node is empty, until the collector learns the name' }),
  timestamp: Timestamp,
  routing_daemon: Text(32).nullable().optional().meta({ description: 'olsr or babel' }),
  rtt_ms_avg: NonNegative.nullable().optional(),
  jitter_ms: NonNegative.nullable().optional(),
  loss_pct: Percent.nullable().optional(),
  hop_count: z.number().nullable().optional().meta({ description: 'Ignored: the hop count is the length of path' }),
  path: z.array(ProbeHop).max(255).default([]).meta({
    description: 'Hops after the source, in order: hop i goes from the previous entry (the source for the first) to path[i].node; the last is the destination, by name or by its mesh address',
  }),
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
  .union([AgentMessage, z.array(AgentMessage).min(1)])
  .meta({
    id: 'IngestBody',
    description:
      'One message or a non-empty batch. Every usable measurement is stored; an unusable message, probe, hop or value is dropped alone and listed in the answer',
  });
export type IngestBody = z.infer<typeof IngestBody>;

const TypeCounts = z.object({
  path_result: z.number().int(),
  hop_result: z.number().int(),
  agent_health: z.number().int(),
  network_status: z.number().int(),
  crash_report: z.number().int(),
});
export type TypeCounts = z.infer<typeof TypeCounts>;

/**
 * Why something an agent sent was not used. A bounded set: the label of
 * meshmon_ingest_dropped_total and the key of the registry's drop counts.
 */
export const DROP_REASONS = [
  // A whole message: it could not be identified.
  'not_an_object', 'unknown_schema', 'unknown_type', 'bad_sender', 'bad_sent_at', 'node_limit',
  // A whole measurement (a path result, probe or hop).
  'no_destination', 'bad_timestamp', 'bad_probe', 'bad_hop',
  // One value; the measurement is stored without it.
  'dst_node_empty', 'bad_node_name', 'bad_route', 'out_of_range', 'not_a_number', 'wrong_type', 'too_long', 'too_deep',
] as const;
export const DropReason = z.enum(DROP_REASONS).meta({ id: 'DropReason' });
export type DropReason = z.infer<typeof DropReason>;

export const Drop = z
  .object({
    index: z.number().int().meta({ description: 'Index of the message in the batch (0 for a single message)' }),
    path: z.string().meta({ description: 'Dotted field path inside that message ("" for the message itself), e.g. probes.3.path.1.etx' }),
    reason: DropReason,
    message: z.string().meta({ description: 'What was wrong, for a person' }),
  })
  .meta({ id: 'Drop', description: 'Something the collector did not use' });
export type Drop = z.infer<typeof Drop>;

const RowCounts = z.object({
  inserted: z.number().int().meta({ description: 'Stored now' }),
  duplicates: z.number().int().meta({ description: 'Stored before (a retry, or a probe the agent repeats): not stored again' }),
  dropped: z.number().int().meta({ description: 'Unusable: not stored (see drops)' }),
});

export const IngestResult = z.object({
  messages: z.number().int().meta({ description: 'Messages in the request' }),
  accepted: TypeCounts.meta({ description: 'Messages read and not entirely stored before, by type' }),
  duplicates: TypeCounts.meta({ description: 'Messages whose every measurement was stored before (a retry), by type' }),
  skipped: z.number().int().meta({ description: 'Messages that could not be read (schema, type, sender or sent_at unusable) or came from a node over MAX_NODES: nothing of them was stored' }),
  rows: z
    .object({ path_probe: RowCounts, hop_quality: RowCounts, agent_health: RowCounts, crash_report: RowCounts })
    .meta({ description: 'Measurements per table (a probe is a path_probe row, each of its hops a hop_quality row): inserted + duplicates + dropped = sent' }),
  dropped: z
    .object({
      total: z.number().int().meta({ description: 'Every drop: skipped messages, dropped measurements and dropped values' }),
      by_reason: z.record(z.string(), z.number().int()).meta({ description: 'The same, by reason' }),
    }),
  drops: z.array(Drop).meta({ description: 'The drops in body order, at most 100 (dropped.total counts them all)' }),
  clock_skewed: z.number().int().meta({
    description: 'Messages whose times were corrected: sent_at too far in the future or implausibly old, shifted by the node’s clock offset (the agent’s own times are kept)',
  }),
  nodes: z.number().int().meta({ description: 'Distinct sending nodes updated in the registry' }),
});
export type IngestResult = z.infer<typeof IngestResult>;

export const IngestResponse = IngestResult.extend({
  received_at: z.iso.datetime(),
}).meta({ id: 'IngestResponse', description: 'Answered only after the transaction committed' });
export type IngestResponse = z.infer<typeof IngestResponse>;
