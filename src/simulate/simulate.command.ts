import { createWriteStream, writeFileSync, type WriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { createGzip, type Gzip } from 'node:zlib';
import { parseFaults, scheduleFaults, scopeOf, truthOf, type Fault } from './faults.ts';
import { buildMesh, rngFrom } from './mesh.ts';
import { collectorEnvForSpeed, rulesForSpeed } from './scaled-rules.ts';
import { trafficGenerator, type Report, type Style } from './traffic.ts';

export const USAGE = `usage: meshmon simulate [--url URL] [--nodes N] [--faults LIST] [--speed X] [--style core|field]
                        [--seed N] [--minutes M] [--record FILE.ndjson.gz --truth FILE.truth.json]

Simulates an AREDN mesh whose agents probe 2 neighbours + 1 rotating peer every
40 s (5 s windows) and report their health every 5 min, with faults on a
schedule, and streams it live to a collector, or records it as a scenario
(the format of shared/scenarios: NDJSON(.gz) + truth file).

  --url URL          collector to POST to (live stream), e.g. http://127.0.0.1:8080
  --nodes N          sites in the mesh (default 12; a partition needs ≥ 6)
  --faults LIST      comma list of jitter_burst, loss_spike, rf_drop, route_flap,
                     bottleneck, node_overload, agent_silent, partition, outage,
                     noise, each optionally KIND:MINUTES; "all" (default), "none"
  --first MIN        simulated minutes before the first fault (default 20)
  --gap MIN          simulated quiet minutes between faults (default 20, ±5)
  --speed X          simulated seconds per real second (default 1). Above 1, give
                     the collector the rules scaled by the same factor (--rules-out)
  --style core|field path_result/hop_result messages, or the field agent's
                     network_status (default core)
  --positions        agents report lat/lon (the recordings do not)
  --seed N           the mesh, its faults and its numbers (default: random, printed)
  --minutes M        stop after M simulated minutes (default: live runs until
                     stopped; a recording ends 45 min after the last fault)
  --record FILE      write the messages (simulated time, from --t0) to FILE (.gz: gzipped)
  --truth FILE       write the expected incidents (with --record)
  --t0 ISO           simulated start of a recording (default 2026-03-02T06:00:00Z;
                     a live stream starts now)
  --rules-out FILE   write the rules file a collector needs at this --speed, and exit
  --token TOKEN      bearer token for /ingest (default: $INGEST_TOKEN)
  -h, --help         show this help

On stdout: one JSON line per event (plan, fault_start, fault_end, progress, done).
Exit codes: 0 done, 1 failed, 2 usage error.`;

class UsageError extends Error {}

interface Options {
  url: string | null;
  nodes: number;
  faults: string;
  first: number;
  gap: number;
  speed: number;
  style: Style;
  positions: boolean;
  seed: number;
  minutes: number | null;
  record: string | null;
  truth: string | null;
  t0: number | null;
  token: string | null;
}

function parse(args: string[]): Options | { rulesOut: string; speed: number } | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      nodes: { type: 'string', default: '12' },
      faults: { type: 'string', default: 'all' },
      first: { type: 'string', default: '20' },
      gap: { type: 'string', default: '20' },
      speed: { type: 'string', default: '1' },
      style: { type: 'string', default: 'core' },
      positions: { type: 'boolean', default: false },
      seed: { type: 'string' },
      minutes: { type: 'string' },
      record: { type: 'string' },
      truth: { type: 'string' },
      t0: { type: 'string' },
      'rules-out': { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const num = (name: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${v}"`);
    return n;
  };
  const speed = num('speed', values.speed, 0.01, 10_000);
  if (values['rules-out']) return { rulesOut: values['rules-out'], speed };
  if (!values.url && !values.record) throw new UsageError('give --url (stream to a collector) or --record FILE (write a scenario), or both');
  if (values.truth && !values.record) throw new UsageError('--truth goes with --record');
  if (values.url) {
    try {
      const u = new URL(values.url);
      if (!/^https?:$/.test(u.protocol)) throw new Error();
    } catch {
      throw new UsageError(`--url must be an http(s) URL, got "${values.url}"`);
    }
  }
  if (values.style !== 'core' && values.style !== 'field') throw new UsageError(`--style must be core or field, got "${values.style}"`);
  let t0: number | null = null;
  if (values.t0) {
    t0 = Date.parse(values.t0);
    if (!/[zZ]|[+-]\d\d:?\d\d$/.test(values.t0) || Number.isNaN(t0)) throw new UsageError(`--t0 must be an ISO-8601 time with a zone, got "${values.t0}"`);
  }
  return {
    url: values.url ? values.url.replace(/\/+$/, '') : null,
    nodes: Math.round(num('nodes', values.nodes, 3, 2000)),
    faults: values.faults!,
    first: num('first', values.first, 0, 100_000),
    gap: num('gap', values.gap, 0, 100_000),
    speed,
    style: values.style,
    positions: !!values.positions,
    seed: values.seed !== undefined ? Math.round(num('seed', values.seed, 0, 2 ** 31 - 1)) : Math.floor(Math.random() * 1e6),
    minutes: values.minutes !== undefined ? num('minutes', values.minutes, 0.1, 10 * 365 * 1440) : null,
    record: values.record ?? null,
    truth: values.truth ?? null,
    t0,
    token: values.token ?? process.env.INGEST_TOKEN ?? null,
  };
}

const say = (event: Record<string, unknown>) => process.stdout.write(JSON.stringify(event) + '\n');

export async function run(args: string[]): Promise<number> {
  let o;
  try {
    o = parse(args);
  } catch (err) {
    process.stderr.write(`meshmon simulate: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if ('rulesOut' in o) {
    writeFileSync(o.rulesOut, JSON.stringify(rulesForSpeed(o.speed), null, 2) + '\n');
    const env = Object.entries(collectorEnvForSpeed(o.speed)).map(([k, v]) => `${k}=${v}`).join(' ');
    process.stderr.write(`wrote ${o.rulesOut}; start the collector with RULES_FILE=${o.rulesOut} ${env}\n`);
    return 0;
  }
  try {
    return await simulate(o);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`meshmon simulate: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`meshmon simulate: ${(err as Error).stack ?? err}\n`);
    return 1;
  }
}

const RECORD_T0 = Date.parse('2026-03-02T06:00:00Z');
const TAIL_MIN = 45;
const MAX_IN_FLIGHT = 32;

async function simulate(o: Options): Promise<number> {
  const live = o.url !== null;
  const rng = rngFrom(o.seed);
  const mesh = buildMesh(o.nodes, rng);
  // A live stream's simulated clock starts now (whole second); a recording's at --t0.
  const t0 = o.t0 ?? (live ? Math.floor(Date.now() / 1000) * 1000 : RECORD_T0);
  let faults: Fault[];
  try {
    faults = scheduleFaults(mesh, rng, parseFaults(o.faults), { firstAt: t0 + o.first * 60_000, gapMin: o.gap });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const lastEnd = faults.reduce((m, f) => Math.max(m, f.end), t0);
  const minutes = o.minutes ?? (live ? null : Math.ceil((lastEnd - t0) / 60_000) + TAIL_MIN);
  const realStart = Date.now();
  // Live: simulated time runs `speed` times faster than the clock, and every
  // message carries the collector's clock time at which it is sent.
  const toReal = (simMs: number) => (live ? realStart + (simMs - t0) / o.speed : simMs);
  const simIso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  const traffic = trafficGenerator({ mesh, faults, style: o.style, rng, t0, positions: o.positions, stamp: simIso });
  // Milliseconds kept when time is compressed: one agent's windows may then be under a second apart.
  const realIso = (simText: string) => {
    const d = new Date(Math.round(toReal(Date.parse(simText)))).toISOString();
    return o.speed > 1 ? d : d.replace(/\.\d{3}Z$/, 'Z');
  };
  const onCollectorClock = (r: Report): Report => ({
    ...r,
    messages: r.messages.map((m) => ({
      ...m,
      sent_at: realIso(m.sent_at),
      ...(Array.isArray(m.probes) ? { probes: (m.probes as Array<{ timestamp: string }>).map((p) => ({ ...p, timestamp: realIso(p.timestamp) })) } : {}),
    })),
  });

  say({
    event: 'plan', seed: o.seed, nodes: mesh.nodes.length, links: mesh.links.length, style: o.style, speed: o.speed,
    t0: new Date(t0).toISOString(), minutes,
    faults: faults.map((f) => ({ kind: f.kind, scope: scopeOf(f), start: new Date(toReal(f.start)).toISOString(), end: new Date(toReal(f.end)).toISOString(), ...(f.group ? { group: f.group } : {}) })),
  });

  let out: { gz: Gzip | null; file: WriteStream } | null = null;
  if (o.record) {
    const file = createWriteStream(o.record);
    const gz = o.record.endsWith('.gz') ? createGzip({ level: 9 }) : null;
    if (gz) gz.pipe(file);
    out = { gz, file };
  }
  const write = async (text: string) => {
    if (!out) return;
    const sink = out.gz ?? out.file;
    if (!sink.write(text)) await new Promise((r) => sink.once('drain', r));
  };

  let stop = false;
  const onSignal = () => { stop = true; };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const stats = { requests: 0, messages: 0, failed: 0, rejected: 0 };
  const inFlight = new Set<Promise<void>>();
  const post = (r: Report) => {
    const body = JSON.stringify(r.messages.length === 1 ? r.messages[0] : r.messages);
    const p = fetch(`${o.url}/ingest`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}) },
      body,
      signal: AbortSignal.timeout(30_000),
    }).then(async (res) => {
      stats.requests++;
      stats.messages += r.messages.length;
      if (!res.ok) {
        stats.rejected++;
        if (stats.rejected <= 5) process.stderr.write(`collector answered ${res.status}: ${(await res.text()).slice(0, 300)}\n`);
      } else await res.arrayBuffer();
    }, (err) => {
      stats.failed++;
      if (stats.failed <= 5 || stats.failed % 100 === 0) process.stderr.write(`POST failed (${stats.failed}): ${(err as Error).message}\n`);
    }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    return p;
  };

  const announced = new Set<string>();
  const lastS = minutes === null ? Infinity : Math.round(minutes * 60);
  for (let s = 0; s < lastS && !stop; s++) {
    const t = t0 + s * 1000;
    for (const [i, f] of faults.entries()) {
      for (const [edge, at] of [['fault_start', f.start], ['fault_end', f.end]] as const) {
        if (t >= at && !announced.has(`${edge}${i}`)) {
          announced.add(`${edge}${i}`);
          say({ event: edge, kind: f.kind, scope: scopeOf(f), at: new Date(toReal(at)).toISOString(), ...(f.group ? { group: f.group } : {}) });
        }
      }
    }
    const reports = traffic(s);
    for (const r of reports) for (const m of r.messages) await write(JSON.stringify(m) + '\n');
    if (live) {
      const due = toReal(t);
      const wait = due - Date.now();
      if (wait > 0) await Bun.sleep(wait);
      for (const r of reports) {
        if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
        void post(onCollectorClock(r));
      }
      if (s > 0 && s % 600 === 0) say({ event: 'progress', simulated_min: s / 60, ...stats, behind_ms: Math.max(0, Date.now() - due) });
    }
  }
  await Promise.all(inFlight);
  if (out) {
    await new Promise<void>((resolve) => {
      out!.file.once('close', () => resolve());
      (out!.gz ?? out!.file).end();
    });
  }
  if (o.truth) {
    const truth = {
      meta: {
        seed: o.seed, nodes: mesh.nodes.length, links: mesh.links.length, minutes: minutes ?? 0,
        t0: new Date(t0).toISOString().replace('.000Z', 'Z'), style: o.style,
      },
      expected: truthOf(faults).filter((e) => Date.parse(e.start_at) < t0 + lastS * 1000),
    };
    writeFileSync(o.truth, JSON.stringify(truth, null, 1));
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  say({ event: 'done', ...stats, stopped: stop });
  return stats.failed > 0 && stats.requests === 0 ? 1 : 0;
}
