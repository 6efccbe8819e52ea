// The load generator of bench/ingest.ts, run as its own process so the
// collector's CPU and memory are its own: `bun bench/ingest-driver.ts --url U
// --scenarios mesh16-core --passes 3 --batch 100 --clients 4 --end-at MS
// [--split agents|mixed]`. Posts every batch once over `--clients` keep-alive
// connections, each client sending its next batch when the last one was
// answered; prints one JSON line.
//
// --split agents (default): each client carries the messages of its own set of
// sending nodes, as agents do (one agent posts its own measurements).
// --shape upstream: the AREDN-Phonebook agent's traffic instead of batches:
// one message per request, a network_status holding the node's last 20 probes
// (so most of each report repeats the one before), pretty-printed, over
// HTTP/1.0 with `Connection: close`, a new connection each, to /api/reports.
// --split mixed: every batch holds the next messages of all nodes, so every
// request updates the same registry rows: the worst case, where concurrent
// requests queue on those row locks until the one before commits.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { batches, buildMessages, upstreamShape } from './ingest-messages.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    scenarios: { type: 'string', default: 'mesh16-core' },
    passes: { type: 'string', default: '3' },
    batch: { type: 'string', default: '100' },
    clients: { type: 'string', default: '4' },
    'end-at': { type: 'string' },
    warmup: { type: 'string', default: '20' },
    split: { type: 'string', default: 'agents' },
    shape: { type: 'string', default: 'batch' },
  },
});
const UPSTREAM = values.shape === 'upstream';
const CLIENTS = Number(values.clients);
const url = `${values.url}/ingest`;
const built = buildMessages(values.scenarios!.split(','), Number(values.passes), values['end-at'] ? Number(values['end-at']) : undefined);
const messages = UPSTREAM ? upstreamShape(built) : built;
const sender = (m: Record<string, any>): string => m.src ?? m.node;
const hash = (s: string) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
/** Per client, its batches in time order. */
const queues = (values.split === 'mixed'
  ? [messages]
  : Array.from({ length: CLIENTS }, (_, i) => messages.filter((m) => hash(sender(m)) % CLIENTS === i))
).map((ms) => UPSTREAM
  ? ms.map((m) => ({ n: 1, body: JSON.stringify(m, null, 2) }))
  : batches(ms, Number(values.batch)).map((b) => ({ n: b.length, body: JSON.stringify(b) })));
const bodies = queues.flat();
const bytes = bodies.reduce((s, b) => s + b.body.length, 0);

const { hostname, port } = new URL(url);

/** As the agent's http_client.c: a new connection, HTTP/1.0, Connection: close; it reads the status line. */
function postLikeTheAgent(body: string): Promise<{ status: number; arrayBuffer(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: hostname, port: Number(port) });
    let head = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => { head += c; });
    sock.on('error', reject);
    sock.on('end', () => resolve({ status: Number(head.split(' ')[1]), arrayBuffer: async () => {} }));
    sock.on('connect', () => sock.write(
      `POST /api/reports HTTP/1.0\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    ));
  });
}

const post = (body: string) => UPSTREAM
  ? postLikeTheAgent(body)
  : fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, keepalive: true });

// Warm-up (JIT, pool connections): the first batches of each queue, not counted.
const warm = queues.flatMap((q) => q.splice(0, Math.ceil(Number(values.warmup) / queues.length)));
for (const b of warm) await (await post(b.body)).arrayBuffer();

const latencies: number[] = [];
const statuses = new Map<number, number>();
let msgs = 0;
// mixed: the clients share one queue; agents: each client has its own.
const nextOf = queues.length === 1 ? (() => { let i = 0; const q = queues[0]!; return () => q[i++]; })() : null;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: CLIENTS }, async (_, c) => {
    const own = queues[c];
    let i = 0;
    for (;;) {
      const b = nextOf ? nextOf() : own?.[i++];
      if (!b) return;
      const s = performance.now();
      const res = await post(b.body);
      await res.arrayBuffer();
      latencies.push(performance.now() - s);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200) msgs += b.n;
    }
  }),
);
const seconds = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
console.log(JSON.stringify({
  requests: latencies.length,
  messages: msgs,
  warmup_messages: warm.reduce((s, b) => s + b.n, 0),
  body_mb: Math.round(bytes / 1e5) / 10,
  seconds: Math.round(seconds * 100) / 100,
  messages_per_s: Math.round(msgs / seconds),
  p50_ms: Math.round(q(0.5) * 10) / 10,
  p99_ms: Math.round(q(0.99) * 10) / 10,
  max_ms: Math.round(latencies[latencies.length - 1]! * 10) / 10,
  statuses: Object.fromEntries(statuses),
}));
