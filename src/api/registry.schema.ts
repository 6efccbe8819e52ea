import { z } from 'zod';
import { queryObject } from './query.ts';

const Time = z.iso.datetime();

export const NodeStatus = z.enum(['reporting', 'silent', 'retired']).meta({
  description:
    '`silent`: no message received for more than REGISTRY_SILENT_AFTER seconds; `retired`: gone for good — silent for the ' +
    'engine\'s agent_silent.retire_after_days, its incident closed, nothing opens for it until it reports again',
});

export const RegistryQuery = queryObject({
  status: z.enum(['reporting', 'silent', 'retired', 'all']).default('all').meta({ description: 'Only nodes in this status' }),
});
export type RegistryQuery = z.infer<typeof RegistryQuery>;

export const RegistryNode = z
  .object({
    node: z.string(),
    status: NodeStatus,
    first_seen: Time.meta({ description: 'Earliest message time (sent_at) from the node' }),
    last_seen: Time.meta({ description: 'Latest message time (sent_at) from the node' }),
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
    clock_skew_s: z.number().nullable().meta({ description: 'Latest measured skew of the agent clock (sent_at − receive time), seconds' }),
    clock_skew_flagged_at: Time.nullable().meta({ description: 'Since when the skew is too large to trust sent_at; null when fine' }),
  })
  .meta({ id: 'RegistryNode' });
export type RegistryNode = z.infer<typeof RegistryNode>;

export const Registry = z
  .object({
    nodes: z.array(RegistryNode).meta({ description: 'By node name' }),
    counts: z.object({ total: z.number().int(), reporting: z.number().int(), silent: z.number().int(), retired: z.number().int() }).meta({
      description: 'Over every known node, whatever the status filter',
    }),
    silent_after_s: z.number().int().positive(),
    generated_at: Time,
  })
  .meta({ id: 'Registry', description: 'Nodes known to the collector' });
export type Registry = z.infer<typeof Registry>;
