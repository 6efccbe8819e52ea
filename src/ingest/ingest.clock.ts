// Judging agents' clocks (contract, "Ingest rules"; issue 11 point 5). Pure:
// a function of the request's agent times, the receive time and the settings.
//
// Routers drift, and AREDN nodes without NTP start in 1970. A time is
// plausible when it lies between the oldest time retention keeps (and not
// before 2000) and MAX_CLOCK_SKEW after the receive time. Old times within
// that range are legitimate: agents buffer while the collector is away.
//
// - A message is judged as a whole: its clock reading is its sent_at, unless
//   sent_at alone is implausible while its measurements (a report's probes)
//   are not: then sent_at is the odd one out and the newest plausible
//   measurement time stands for it.
// - A node's clock is off when its newest reading in the request is
//   implausible. Its offset is estimated from this request (receive time −
//   that reading) and every time of the node in the request is shifted by it,
//   so distinct windows stay distinct and in order and the newest lands at
//   the receive time.
// - A node whose clock reads right now may still send messages stamped before
//   it was set (1970): those are shifted together so that the newest of them
//   lands just before the node's oldest plausible reading.
// - A single measurement implausible beside a plausible message (a probe
//   stamped a day after its own report) is moved with the other outliers of
//   its message to end at the message's time.
// - Whatever was moved stays inside what retention keeps (an hour past the
//   cutoff at least) and never passes the receive time.
// The agent's own times are kept beside the corrected ones (sent_at), and
// retries are recognised by them (the clock ledger), whatever the offset was.

const Y2000 = Date.parse('2000-01-01T00:00:00Z');
const HOUR = 3_600_000;
const DAY = 86_400_000;

export interface ClockMessage {
  node: string;
  sentMs: number;
  /** The agent times of its measurements: a report's probes; [] for the one-measurement types (sent_at is their time). */
  times: number[];
}

export interface NodeClock {
  /** Offset of the agent's clock (sent − receive), s; null when this request says nothing about it (only buffered messages). */
  offsetS: number | null;
  /** The clock is off: its times were shifted. */
  flagged: boolean;
}

export interface ClockPlan {
  /** Corrected sent_at of each message. */
  header: number[];
  /** The corrected time of an agent time of message m (one of its `times`, or its sent_at). */
  at(m: number, t: number): number;
  /** Messages any of whose times were corrected. */
  corrected: boolean[];
  nodes: Map<string, NodeClock>;
}

export interface ClockSettings {
  recvMs: number;
  maxSkewMs: number;
  retentionDays: number;
}

/** The oldest plausible agent time at a receive time. */
export function plausibleFrom(s: ClockSettings): number {
  return Math.max(s.recvMs - s.retentionDays * DAY, Y2000);
}

export function judgeClocks(msgs: readonly ClockMessage[], s: ClockSettings): ClockPlan {
  const recv = s.recvMs;
  const lo = plausibleFrom(s);
  const hi = recv + s.maxSkewMs;
  const floor = Math.min(recv, Math.max(recv - s.retentionDays * DAY + HOUR, Y2000));
  const ok = (t: number) => t >= lo && t <= hi;
  const clamp = (t: number) => Math.min(recv, Math.max(floor, t));

  // Each message's clock reading.
  const reading = msgs.map((m) => {
    if (ok(m.sentMs) || m.times.length === 0) return { c: m.sentMs, headerOdd: false };
    let best = -Infinity;
    for (const t of m.times) if (ok(t) && t > best) best = t;
    return best > -Infinity ? { c: best, headerOdd: true } : { c: m.sentMs, headerOdd: false };
  });

  // Each node's newest reading, and its oldest plausible one.
  const byNode = new Map<string, { newest: number; oldestOk: number; newestOff: number }>();
  msgs.forEach((m, i) => {
    const c = reading[i]!.c;
    let n = byNode.get(m.node);
    if (!n) byNode.set(m.node, (n = { newest: -Infinity, oldestOk: Infinity, newestOff: -Infinity }));
    n.newest = Math.max(n.newest, c);
    if (ok(c)) n.oldestOk = Math.min(n.oldestOk, c);
    else n.newestOff = Math.max(n.newestOff, c);
  });
  const nodes = new Map<string, NodeClock>();
  const nodeShift = new Map<string, number>();
  const staleShift = new Map<string, number>();
  for (const [node, n] of byNode) {
    if (!ok(n.newest)) {
      nodes.set(node, { offsetS: (n.newest - recv) / 1000, flagged: true });
      nodeShift.set(node, recv - n.newest);
    } else {
      // Only a message sent recently measures the clock; a buffered one says how long it waited.
      nodes.set(node, { offsetS: n.newest >= recv - s.maxSkewMs ? (n.newest - recv) / 1000 : null, flagged: false });
      if (n.newestOff > -Infinity) staleShift.set(node, n.oldestOk - 1 - n.newestOff);
    }
  }

  const header: number[] = [];
  const corrected: boolean[] = [];
  const maps: Array<(t: number) => number> = [];
  msgs.forEach((m, i) => {
    const { c, headerOdd } = reading[i]!;
    const off = nodeShift.get(m.node) ?? (ok(c) ? 0 : (staleShift.get(m.node) ?? 0));
    const h = off !== 0 ? clamp((headerOdd ? c : m.sentMs) + off) : headerOdd ? c : m.sentMs;
    header.push(h);
    let changed = h !== m.sentMs;
    let map: (t: number) => number;
    if (off !== 0) {
      map = (t) => clamp(t + off);
      changed = true;
    } else {
      // The message's clock is fine: only its own odd measurements move, together.
      let fut = -Infinity;
      let past = -Infinity;
      let oldestOk = Infinity;
      for (const t of m.times) {
        if (t > hi) fut = Math.max(fut, t);
        else if (t < lo) past = Math.max(past, t);
        else oldestOk = Math.min(oldestOk, t);
      }
      const futOff = fut > -Infinity ? h - fut : 0;
      const pastOff = past > -Infinity ? Math.min(oldestOk - 1, h) - past : 0;
      if (futOff || pastOff) changed = true;
      map = (t) => (t > hi ? clamp(t + futOff) : t < lo ? clamp(t + pastOff) : t);
    }
    maps.push(map);
    corrected.push(changed);
  });

  return {
    header,
    at: (m, t) => maps[m]!(t),
    corrected,
    nodes,
  };
}