import { z } from 'zod';
import { Limit, queryObject } from './query.ts';

const Time = z.iso.datetime();

export const NodeStatus = z.enum(['reporting', 'silent', 'retired']).meta({
  description:
    '`silent`: no message received for more than REGISTRY_SILENT_AFTER seconds; `retired`: gone for good — silent for the ' +
    'engine\'s agent_silent.retire_after_days, its incident closed, nothing opens for it until it reports again',
});

/** Keyset position in the node-name order. */
export interface RegistryCursor {
  after: string;
}

const CursorPayload = z.object({ a: z.string().min(1).max(253) });

export function encodeRegistryCursor(c: RegistryCursor): string {
  return Buffer.from(JSON.stringify({ a: c.after })).toString('base64url');
}

export function decodeRegistryCursor(s: string): RegistryCursor | null {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(s)) return null;
  try {
    const parsed = CursorPayload.safeParse(JSON.parse(Buffer.from(s, 'base64url').toString('utf8')));
    // A cursor carries a node name, which never holds a NUL.
    return parsed.success && !parsed.data.a.includes('\u0000') ? { after: parsed.data.a } : null;
  } catch {
    return null;
  }
}

const RegistryCursorParam = z
  .string()
  .transform((s, ctx) => {
    const c = decodeRegistryCursor(s);
    if (!c) {
      ctx.issues.push({ code: 'custom', message: 'is not a cursor this API issued (pass the `next` of the previous page unchanged)', input: s });
      return z.NEVER;
    }
    return c;
  })
  .meta({ description: 'The `next` value of the previous page; omit for the first page' });

/** Nodes per page by default, and at most: the default ceiling MAX_NODES fits one page. */
export const REGISTRY_PAGE = { default: 1000, max: 5000 } as const;

export const RegistryQuery = queryObject({
  status: z.enum(['reporting', 'silent', 'retired', 'all']).default('all').meta({ description: 'Only nodes in this status' }),
  limit: Limit(REGISTRY_PAGE.default, REGISTRY_PAGE.max).meta({ description: `Nodes per page (1–${REGISTRY_PAGE.max}, default ${REGISTRY_PAGE.default})` }),
  cursor: RegistryCursorParam.optional(),
});
export type RegistryQuery = z.infer<typeof RegistryQuery>;

export const IngestDrops = z
  .object({
    last_24h: z.number().int().nonnegative().meta({ description: 'What the collector could not use from this node in the last 24 h: measurements dropped whole, and values dropped from stored ones (each once)' }),
    last_at: Time.nullable().meta({ description: 'When it last dropped something of this node (receive time); null when nothing in the last week' }),
    last_reason: z.string().nullable().meta({ description: 'The reason of that drop (a DropReason, e.g. dst_node_empty)' }),
  })
  .meta({ id: 'IngestDrops', description: 'What the collector dropped of this node’s data: the agent never reads the answer, so this is where it shows' });
export type IngestDrops = z.infer<typeof IngestDrops>;

export const RegistryNode = z
  .object({
    node: z.string(),
    status: NodeStatus,
    first_seen: Time.meta({ description: 'Earliest message time (sent_at, corrected when the agent clock is off) from the node' }),
    last_seen: Time.meta({ description: 'Latest message time (sent_at, corrected when the agent clock is off) from the node' }),
    last_received_at: Time.meta({ description: 'When the collector last received a message from it (collector clock)' }),
    silent_for_s: z.number().int().nonnegative().meta({ description: 'Seconds since last_received_at' }),
    retired_at: Time.nullable().meta({ description: 'When the engine retired it (status retired); null otherwise' }),
    last_type: z.string().nullable().meta({ description: 'Type of the latest message' }),
    agent_version: z.string().nullable(),
    routing_daemon: z.string().nullable().meta({ description: 'olsr or babel' }),
    hardware_model: z.string().nullable(),
    firmware_version: z.string().nullable(),
    position: z.object({
      lat: z.number().nullable(),
      lon: z.number().nullable(),
      grid_square: z.string().nullable().meta({ description: 'Maidenhead locator' }),
    }),
    clock_skew_s: z.number().nullable().meta({ description: 'Latest measured offset of the agent clock (sent_at − receive time), seconds' }),
    clock_skew_flagged_at: Time.nullable().meta({ description: 'Since when the clock is off (too far ahead, or implausibly old such as 1970) and its times are corrected; null when fine' }),
    ingest_drops: IngestDrops,
  })
  .meta({ id: 'RegistryNode' });
export type RegistryNode = z.infer<typeof RegistryNode>;

export const Registry = z
  .object({
    nodes: z.array(RegistryNode).meta({ description: 'By node name, one page' }),
    next: z.string().nullable().meta({ description: 'Cursor of the next page (pass it as `cursor`); null on the last page' }),
    counts: z.object({ total: z.number().int(), reporting: z.number().int(), silent: z.number().int(), retired: z.number().int() }).meta({
      description: 'Over every known node, whatever the status filter and the page',
    }),
    silent_after_s: z.number().int().positive(),
    generated_at: Time,
  })
  .meta({ id: 'Registry', description: 'Nodes known to the collector' });
export type Registry = z.infer<typeof Registry>;
