import { z } from 'zod';
import { NodeStatus } from '../api/registry.schema.ts';
import { IncidentKind, Severity } from '../incidents/incident.schema.ts';

// GET /topology: one NetJSON NetworkGraph (https://netjson.org, draft-04 schema
// in shared/reference/netjson/), the shape OpenWISP Network Topology's NetJSON
// parser and the panel's mesh view read.

const Time = z.iso.datetime();

export const TopologyIncident = z
  .object({ id: z.string(), kind: IncidentKind, severity: Severity })
  .meta({ id: 'TopologyIncident' });

const worst = Severity.nullable().meta({
  description: 'Worst severity among the open incidents on it that no maintenance window covers; null when none',
});

export const TopologyNodeStatus = z.enum([...NodeStatus.options, 'unmonitored']).meta({
  description: 'The registry’s status; `unmonitored`: seen only as a hop of other agents’ routes (it runs no agent)',
});

export const TopologyNode = z
  .object({
    id: z.string().meta({ description: 'The node name' }),
    label: z.string(),
    properties: z.object({
      status: TopologyNodeStatus,
      lat: z.number().nullable(),
      lon: z.number().nullable(),
      firmware_version: z.string().nullable(),
      hardware_model: z.string().nullable(),
      last_seen: Time.nullable().meta({ description: 'Latest message from its agent, or (unmonitored) latest hop sample through it' }),
      severity: worst,
      incidents: z.array(TopologyIncident).meta({ description: 'Open incidents whose scope is this node' }),
    }),
  })
  .meta({ id: 'TopologyNode' });
export type TopologyNode = z.infer<typeof TopologyNode>;

export const TopologyLink = z
  .object({
    source: z.string().meta({ description: 'Node id; source < target (links are undirected)' }),
    target: z.string(),
    cost: z.number().meta({ description: 'Mean ETX of the hop samples of the last hour (both directions); 1 when no sample carried an ETX' }),
    properties: z.object({
      lq: z.number().nullable().meta({ description: 'Mean link quality as the source sees the target (0–1); null without LQ (Babel)' }),
      nlq: z.number().nullable().meta({ description: 'Mean neighbour link quality: as the target sees the source' }),
      link_type: z.string().nullable().meta({ description: 'Latest link type reported (RF, DTD, TUN, …)' }),
      samples: z.number().int().positive().meta({ description: 'Hop samples over the last hour' }),
      last_seen: Time,
      severity: worst,
      incidents: z.array(TopologyIncident).meta({ description: 'Open incidents whose scope is this link' }),
    }),
  })
  .meta({ id: 'TopologyLink' });
export type TopologyLink = z.infer<typeof TopologyLink>;

export const NetworkGraph = z
  .object({
    type: z.literal('NetworkGraph'),
    protocol: z.literal('meshmon'),
    version: z.string().meta({ description: 'The collector’s version' }),
    metric: z.literal('etx'),
    label: z.string(),
    nodes: z.array(TopologyNode).meta({ description: 'Registry nodes, then the nodes only seen in hops; by id' }),
    links: z.array(TopologyLink).meta({ description: 'Every pair of nodes joined by a hop sample in the last hour; by source, target' }),
  })
  .meta({ id: 'NetworkGraph', description: 'The mesh of the last hour as a NetJSON NetworkGraph' });
export type NetworkGraph = z.infer<typeof NetworkGraph>;
