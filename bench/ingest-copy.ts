// The floor bench/ingest.ts compares against: the same rows the collector
// would store, loaded with COPY (psql, CSV on stdin) into an empty migrated
// database. No validation, no duplicate checks, no registry: what the disk and
// PostgreSQL can take at best.
import type { Config } from '../src/config.ts';
import { rowsOf } from '../src/ingest/ingest.service.ts';

const csv = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const s = Array.isArray(v) ? `{${v.join(',')}}` : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return `"${s.replace(/"/g, '""')}"`;
};

const TABLES = {
  path_probe: ['time', 'src', 'dst', 'route', 'rtt_ms', 'jitter_ms', 'loss_pct', 'window_s', 'sent_at', 'received_at', 'clock_skew_s', 'source', 'agent_version', 'agent_cpu_pct', 'agent_mem_mb', 'extra'],
  hop_quality: ['time', 'src', 'dst', 'hop_index', 'from_node', 'to_node', 'lq', 'nlq', 'etx', 'link_type', 'rtt_ms', 'sent_at', 'received_at', 'clock_skew_s', 'extra'],
  agent_health: ['time', 'node', 'cpu_pct', 'mem_mb', 'queue_len', 'neighbors_seen', 'sent_at', 'received_at', 'clock_skew_s', 'extra'],
  crash_report: ['time', 'node', 'crash_time', 'signal', 'signal_name', 'reason', 'restart_count', 'uptime_before_crash', 'sent_at', 'received_at', 'clock_skew_s', 'extra'],
} as const;

/** CSV per table for the messages' rows; built before the clock starts. */
export function copyPayloads(messages: unknown[], config: Config, receivedAt = new Date()) {
  const rows = rowsOf(messages, { receivedAt, config });
  const recv = receivedAt.toISOString();
  const sources = {
    path_probe: rows.path, hop_quality: rows.hop, agent_health: rows.health, crash_report: rows.crash,
  } as unknown as Record<keyof typeof TABLES, Array<Record<string, unknown>>>;
  return (Object.keys(TABLES) as Array<keyof typeof TABLES>).map((table) => ({
    table,
    rows: sources[table].length,
    sql: `COPY ${table} (${TABLES[table].join(', ')}) FROM STDIN (FORMAT csv)`,
    data: sources[table].map((r) => TABLES[table].map((c) => csv(c === 'received_at' ? recv : r[c])).join(',')).join('\n') + '\n',
  }));
}

/** Runs the COPYs one after another; returns rows and seconds. */
export async function copyInto(url: string, payloads: ReturnType<typeof copyPayloads>): Promise<{ rows: number; seconds: number }> {
  let rows = 0;
  const t0 = performance.now();
  for (const p of payloads) {
    if (!p.rows) continue;
    const proc = Bun.spawn(['psql', url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', p.sql], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
    proc.stdin.write(p.data);
    await proc.stdin.end();
    const code = await proc.exited;
    if (code !== 0) throw new Error(`COPY ${p.table} failed: ${await new Response(proc.stderr).text()}`);
    rows += p.rows;
  }
  return { rows, seconds: (performance.now() - t0) / 1000 };
}
