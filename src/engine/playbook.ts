import type { IncidentKind, Scope } from '../incidents/incident.schema.ts';

// What an operator reads first: one line of likely cause, a few short steps.

export interface Play {
  cause: string;
  next_steps: string[];
}

const where = (s: Scope) =>
  s.type === 'route' ? `${s.src} → ${s.dst}` : s.type === 'link' ? `${s.a} ↔ ${s.b}` : s.node === '*' ? 'every agent' : s.node;

export function playbook(kind: IncidentKind, scope: Scope): Play {
  const w = where(scope);
  switch (kind) {
    case 'rf_drop':
      return {
        cause: `RF link ${w} degraded: alignment, SNR or a new obstruction`,
        next_steps: [
          'Check antenna alignment and line of sight on both ends',
          'Compare SNR / noise floor with last week; look for new interference',
          'Consider a channel change or a narrower channel width',
        ],
      };
    case 'jitter_burst':
      return {
        cause: `Congestion or interference on route ${w}`,
        next_steps: [
          'Look for heavy traffic on the route’s hops at that time',
          'Reduce channel width or enable airtime fairness on busy RF hops',
          'Schedule throughput tests and large transfers off-peak',
        ],
      };
    case 'loss_spike':
      return {
        cause: `Packet loss on route ${w}: RF loss or queue drops on a hop`,
        next_steps: [
          'Inspect RF metrics (LQ/NLQ, SNR) on each hop of the route',
          'Check interface queues and drops on the route’s nodes',
          'Re-test after the busiest hop is relieved',
        ],
      };
    case 'route_flap':
      return {
        cause: `Route ${w} keeps changing: an unstable hop`,
        next_steps: [
          'Find the hop that comes and goes in the hop lists (evidence)',
          'Stabilise the weakest common hop (alignment, power, channel)',
          'Review link priorities / tunnel weights so one path is preferred',
        ],
      };
    case 'bottleneck':
      return {
        cause: `Link ${w} carries too much traffic: the worst hop of several routes`,
        next_steps: [
          'Confirm utilisation on both ends of the link',
          'Add an alternative link or tunnel to share the load',
          'Reposition antennas or change channel to raise capacity',
        ],
      };
    case 'node_overload':
      return {
        cause: `Node ${w} is CPU-bound while routes through it degrade`,
        next_steps: [
          'Check the node’s processes and load (top, services)',
          'Disable services it does not need to run',
          'Plan a hardware upgrade if the load is normal for it',
        ],
      };
    case 'agent_silent':
      return scope.type === 'node' && scope.node === '*'
        ? {
            cause: 'Every agent went silent at once: the collector or its uplink, not the mesh',
            next_steps: [
              'Check the collector’s own network link and the mesh gateway',
              'Check that /ingest is reachable from a node (curl)',
              'Check the collector’s logs for ingest errors',
            ],
          }
        : {
            cause: `Agent on ${w} stopped reporting: node down, agent stopped, or its route to the collector lost`,
            next_steps: [
              'Ping the node and open its AREDN status page',
              'If it answers, restart the monitoring agent',
              'If not, check power and its links to neighbours',
            ],
          };
    case 'partition':
      // The rule names the far end and counts the sites (partitionCause); this is the wording before it does.
      return {
        cause: scope.type === 'link'
          ? `The link ${w} (or the site at its far end) is down: the sites behind it are cut off`
          : `The site ${w} (or every link into it) is down: the sites behind it are cut off`,
        next_steps: [
          scope.type === 'link'
            ? 'Check power and the radio at the far (silent) end of the link'
            : 'Check power and the radios at the site',
          'Check the link’s alignment and the weather on its path; look for a new obstruction',
          'The sites behind it come back when it does: their silent agents and lost probes are listed as its children',
        ],
      };
    case 'agent_misreport':
      // The rule replaces the cause with one naming the reason and its fix.
      return {
        cause: `The agent on ${w} sends measurements the collector cannot use: most of them are dropped or stored without a part`,
        next_steps: [
          'Read the reason in this incident’s cause and evidence, and the node’s ingest_drops in /registry',
          'Upgrade the agent (docs/agents.md lists the known defects and what each costs)',
          'An empty dst_node means the agent cannot parse its routing daemon: until it is upgraded its probes are stored by address, without hops',
          'bad_sent_at / bad_timestamp: check the agent’s clock and time format; out_of_range / not_a_number: its measurement code',
        ],
      };
  }
}
