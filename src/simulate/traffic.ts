import type { Fault } from './faults.ts';
import {
  between, gridSquare, HEALTH_INTERVAL_S, linkId, PROBE_INTERVAL_S, round, routeLinks, shuffled, type Mesh, type Rng,
} from './mesh.ts';

// The messages the agents of a simulated mesh send, second by second of
// simulated time, with the faults laid over normal traffic. Values follow the
// recorded scenarios: jitter 1.5–9 ms, loss mostly under 0.5 %, RTT the sum of
// the hops' latencies; the faults move exactly the values the recordings move.

export type Style = 'core' | 'field';
export type Message = Record<string, unknown> & { type: string; sent_at: string };

/** One agent's request: what it POSTs at `at` (simulated epoch ms). */
export interface Report {
  at: number;
  node: string;
  messages: Message[];
}

export interface TrafficOptions {
  mesh: Mesh;
  faults: Fault[];
  style: Style;
  rng: Rng;
  /** Simulated epoch ms of the first second. */
  t0: number;
  /** Agents report lat/lon (and the field agent its hardware) — the recordings do not. */
  positions: boolean;
  /** Simulated ms → the sent_at text (live streams stamp the collector's clock). */
  stamp: (ms: number) => string;
}

/** The field agent posts its network_status this long after the probe window. */
const FIELD_DELAY_S = 15;
/** agent_health goes out this long before the probe round it precedes. */
const HEALTH_LEAD_S = 5;

const active = (f: Fault, t: number) => t >= f.start && t < f.end;

export function trafficGenerator(o: TrafficOptions) {
  const { mesh, faults, style, rng, t0 } = o;
  const uptimeBase = new Map(mesh.nodes.map((n) => [n.name, 1000 + Math.floor(rng() * 86400)]));
  let flapTurn = 0;

  /** Windows of every fault kind active at `t`, by what they touch. */
  const now = (t: number) => {
    const on = faults.filter((f) => active(f, t));
    return {
      outage: on.some((f) => f.kind === 'outage'),
      silent: new Set(on.flatMap((f) => (f.kind === 'agent_silent' ? [f.node!] : f.kind === 'partition' ? f.group! : []))),
      cut: new Set(on.flatMap((f) => (f.kind === 'partition' ? f.group! : []))),
      on,
    };
  };

  /** Noise 'two jittery windows and one lossy window' on one route: index of this window inside the fault. */
  const noiseStep = (f: Fault, t: number) => Math.floor((t - f.start) / (PROBE_INTERVAL_S * 1000));

  function probe(src: string, dst: string, t: number, state: ReturnType<typeof now>) {
    let hops = mesh.route(src, dst);
    if (!hops) return null;
    let jitter = between(rng, 1.5, 9);
    let loss = rng() < 0.23 ? 0 : between(rng, 0.01, 0.5);
    let extraRtt = 0;
    const quality = new Map<string, [number, number]>();
    for (const f of state.on) {
      const onRoute = f.route && f.route.src === src && f.route.dst === dst;
      switch (f.kind) {
        case 'jitter_burst':
          if (onRoute) jitter = between(rng, 78, 86);
          break;
        case 'loss_spike':
          if (onRoute) loss = between(rng, 7, 8);
          break;
        case 'noise':
          if (onRoute) {
            const step = noiseStep(f, t);
            if (step <= 1) jitter = between(rng, 42, 48);
            if (step === 1) loss = between(rng, 3, 5);
          }
          break;
        case 'route_flap':
          if (onRoute) hops = f.hopLists![flapTurn++ % f.hopLists!.length]!;
          break;
        case 'rf_drop':
          if (routeLinks(hops).includes(linkId(f.link!.a, f.link!.b))) {
            loss += between(rng, 0.1, 0.7);
            jitter += between(rng, 0, 4);
          }
          quality.set(linkId(f.link!.a, f.link!.b), [0.43, 0.5]);
          break;
        case 'bottleneck':
          if (routeLinks(hops).includes(linkId(f.link!.a, f.link!.b))) {
            jitter = between(rng, 35, 75);
            loss = between(rng, 2.5, 6);
            extraRtt = between(rng, 25, 110);
          }
          quality.set(linkId(f.link!.a, f.link!.b), [0.72, 0.8]);
          break;
        case 'node_overload':
          if (hops.slice(0, -1).includes(f.node!)) jitter = between(rng, 33, 55);
          break;
      }
    }
    const lost = state.cut.has(dst);
    let rtt = extraRtt;
    const l2 = routeLinks(hops).map((id, i) => {
      const link = mesh.link(hops![i]!, hops![i + 1]!)!;
      rtt += link.latencyMs + between(rng, -0.8, 1.5);
      if (link.type === 'TUN') return { lq: 1, nlq: 1, etx: 1, type: link.type };
      const forward = hops![i]! === link.a;
      const [lo, hi] = quality.get(id) ?? [0, 0];
      const wobble = () => between(rng, -0.02, 0.02);
      const base = forward ? [link.lq, link.nlq] : [link.nlq, link.lq];
      const lq = round(hi ? between(rng, lo, hi) : Math.min(1, base[0]! + wobble()), 3);
      const nlq = round(hi ? between(rng, lo, hi) : Math.min(1, base[1]! + wobble()), 3);
      return { lq, nlq, etx: round(1 / (lq * nlq), 3), type: link.type };
    });
    return {
      hops,
      lost,
      rtt: lost ? null : round(rtt, 1),
      jitter: lost ? null : round(jitter, 1),
      loss: lost ? 100 : round(Math.min(100, loss), 2),
      l2,
    };
  }

  function health(node: string, t: number, cpu: number): Message {
    const n = mesh.byName.get(node)!;
    const base: Message = {
      schema: 'meshmon.v1', type: 'agent_health', node, sent_at: o.stamp(t),
      cpu_pct: round(cpu, 1), mem_mb: round(between(rng, 4, 9), 1), queue_len: 0,
    };
    if (style === 'core') {
      return { ...base, neighbors_seen: mesh.neighbours.get(node)!.length, ...(o.positions ? { lat: n.lat, lon: n.lon } : {}) };
    }
    const uptime = uptimeBase.get(node)! + Math.round((t - t0) / 1000);
    return {
      ...base,
      routing_daemon: 'olsr',
      lat: o.positions ? n.lat.toFixed(5) : 'unknown',
      lon: o.positions ? n.lon.toFixed(5) : 'unknown',
      grid_square: o.positions ? gridSquare(n.lat, n.lon) : 'unknown',
      hardware_model: o.positions ? n.model : 'unknown',
      firmware_version: '3.25.5.0',
      uptime_seconds: uptime,
      restart_count: 0,
      threads_responsive: true,
      health_score: 100.0,
      checks: { memory_stable: true, no_recent_crashes: true, sip_service_ok: true, phonebook_current: true },
      sip_service: { active_calls: 0, registered_users: 0 },
      monitoring: { probe_queue_depth: 0, last_probe_sent: 'N/A' },
    };
  }

  function round3(node: string, t: number, round_: number, state: ReturnType<typeof now>): Report | null {
    const targets = [...mesh.fixed.get(node)!, mesh.peer(node, round_)].sort();
    const stamp = o.stamp(t);
    if (style === 'core') {
      const messages: Message[] = [];
      for (const dst of targets) {
        const p = probe(node, dst, t, state);
        if (!p) continue;
        if (!p.lost) {
          const hopMsgs = p.l2.map((q, i) => ({
            schema: 'meshmon.v1', type: 'hop_result', src: node, dst, sent_at: stamp, hop_index: i + 1,
            hop: { from: p.hops[i]!, to: p.hops[i + 1]! }, l2: { lq: q.lq, nlq: q.nlq, etx: q.etx },
          }));
          messages.push(...shuffled(rng, hopMsgs));
        }
        messages.push({
          schema: 'meshmon.v1', type: 'path_result', src: node, dst, sent_at: stamp, window_s: 5, route: p.hops,
          metrics: { rtt_ms_avg: p.rtt, jitter_ms_rfc3550: p.jitter, loss_pct: p.loss },
        });
      }
      return { at: t, node, messages };
    }
    const probes = [];
    for (const dst of targets) {
      const p = probe(node, dst, t, state);
      if (!p) continue;
      const two = (x: number | null) => (x === null ? null : round(x, 2));
      probes.push({
        dst_node: dst,
        dst_ip: mesh.byName.get(dst)!.ip,
        timestamp: stamp,
        routing_daemon: 'olsr',
        rtt_ms_avg: two(p.rtt),
        jitter_ms: two(p.jitter),
        loss_pct: two(p.loss),
        hop_count: p.lost ? 0 : p.hops.length - 1,
        path: p.lost ? [] : p.l2.map((q, i) => ({
          node: p.hops[i + 1]!,
          interface: q.type === 'TUN' ? 'tun50' : 'wlan0',
          link_type: q.type,
          lq: round(q.lq, 2),
          nlq: round(q.nlq, 2),
          etx: round(q.etx, 2),
          rtt_ms: two(p.rtt),
        })),
      });
    }
    const at = t + FIELD_DELAY_S * 1000;
    return {
      at,
      node,
      messages: [{ schema: 'meshmon.v1', type: 'network_status', node, sent_at: o.stamp(at), routing_daemon: 'olsr', probe_count: probes.length, probes }],
    };
  }

  // Reports are produced when their window happens and released when they
  // are sent (the field agent's come 15 s late), so the stream stays in
  // sent_at order.
  const pending = new Map<number, Report[]>();
  const lastHealthSlot = new Map<string, number>();

  /** Every report sent during simulated second `s` (0 = t0), in send order. */
  return function second(s: number): Report[] {
    const t = t0 + s * 1000;
    for (const n of mesh.nodes) {
      // Probe rounds at the node's phase; health before the first round of each 5-minute slot.
      const next = s + HEALTH_LEAD_S;
      if ((next - n.phase) % PROBE_INTERVAL_S === 0) {
        const slot = Math.floor(next / HEALTH_INTERVAL_S);
        const overloaded = faults.find((f) => f.kind === 'node_overload' && f.node === n.name && active(f, t));
        if (overloaded || lastHealthSlot.get(n.name) !== slot) {
          lastHealthSlot.set(n.name, slot);
          const cpu = overloaded ? between(rng, 86, 99) : between(rng, 3, 25);
          const rep = { at: t, node: n.name, messages: [health(n.name, t, cpu)] };
          (pending.get(s) ?? pending.set(s, []).get(s)!).push(rep);
        }
      }
      if ((s - n.phase) % PROBE_INTERVAL_S === 0 && s >= n.phase) {
        const rep = round3(n.name, t, Math.floor((s - n.phase) / PROBE_INTERVAL_S), now(t));
        if (rep) {
          const due = s + Math.round((rep.at - t) / 1000);
          (pending.get(due) ?? pending.set(due, []).get(due)!).push(rep);
        }
      }
    }
    const out = pending.get(s) ?? [];
    pending.delete(s);
    // What silent agents, cut-off sites and a deaf collector never deliver.
    const state = now(t);
    return out
      .filter((r) => !state.outage && !state.silent.has(r.node))
      .sort((x, y) => x.at - y.at || x.node.localeCompare(y.node));
  };
}
