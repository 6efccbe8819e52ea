import type { CollectorProcess } from './collector-process.ts';

export interface Sent {
  node: string;
  sent_at: string;
}

export interface LoadAgent {
  /** Messages answered 200: committed, so they must never be lost. */
  acked: Sent[];
  /** Answers by status (0: no answer: refused, reset, timed out). */
  statuses: Map<number, number>;
  /** Retry-After values seen on 503s ('none' when missing). */
  retryAfter: Set<string>;
  stop(): Promise<void>;
}

/**
 * An agent under test: posts one agent_health message every `everyMs` to
 * POST /ingest, as the upstream agent does (anything but 200 is retried
 * later as a new message here), and remembers what was acknowledged.
 */
export function loadAgent(url: () => string, opts: { prefix?: string; everyMs?: number; padBytes?: number } = {}): LoadAgent {
  const acked: Sent[] = [];
  const statuses = new Map<number, number>();
  const retryAfter = new Set<string>();
  const prefix = opts.prefix ?? 'load';
  let seq = 0;
  let stop = false;
  // Collectors run on the wall clock: recent times, one second apart, each (node, time) once.
  const base = Date.now() - 3_600_000;
  const loop = (async () => {
    while (!stop) {
      const m: Sent = { node: `${prefix}-${seq % 20}`, sent_at: new Date(base + seq++ * 1000).toISOString() };
      try {
        const r = await fetch(`${url()}/ingest`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            schema: 'meshmon.v1', type: 'agent_health', ...m, cpu_pct: 1, mem_mb: 5, queue_len: 0, neighbors_seen: 1,
            ...(opts.padBytes ? { pad: 'x'.repeat(opts.padBytes) } : {}),
          }),
          signal: AbortSignal.timeout(5_000),
        });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) acked.push(m);
        if (r.status === 503) retryAfter.add(r.headers.get('retry-after') ?? 'none');
        await r.arrayBuffer();
      } catch {
        statuses.set(0, (statuses.get(0) ?? 0) + 1);
      }
      await Bun.sleep(opts.everyMs ?? 100);
    }
  })();
  return { acked, statuses, retryAfter, stop: async () => { stop = true; await loop; } };
}

export async function healthz(c: Pick<CollectorProcess, 'url'>): Promise<{ status: number; body: any; retryAfter: string | null }> {
  try {
    const r = await fetch(`${c.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    return { status: r.status, body: await r.json(), retryAfter: r.headers.get('retry-after') };
  } catch (err) {
    return { status: 0, body: { error: (err as Error).message }, retryAfter: null };
  }
}

/** Polls every 50 ms until `ok`; returns how long it took (for the measured figures) and the last answer. */
export async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<{ ms: number; last: T }> {
  const t0 = performance.now();
  let last = await fn();
  while (!ok(last)) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: still ${JSON.stringify(last)} after ${ms} ms`);
    await Bun.sleep(50);
    last = await fn();
  }
  return { ms: performance.now() - t0, last };
}

/** The acknowledged messages missing from `stored` (keys `node@ISO time`). */
export function lostOf(acked: Sent[], stored: Iterable<{ node: string; time: Date | string }>): Sent[] {
  const have = new Set([...stored].map((r) => `${r.node}@${new Date(r.time).toISOString()}`));
  return acked.filter((m) => !have.has(`${m.node}@${new Date(m.sent_at).toISOString()}`));
}
