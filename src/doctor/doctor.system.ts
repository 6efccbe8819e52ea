import { existsSync, readFileSync, statfsSync } from 'node:fs';
import net from 'node:net';
import type { Config } from '../config.ts';

/** What `meshmon doctor` reads from the machine (not the database): each function reads only and never throws. */

export interface RuntimeFacts {
  bun: string | null;
  /** `node --version` on PATH (npm needs it; the collector runs on Bun). */
  node: string | null;
  platform: string;
  arch: string;
  os: string | null;
}

function run(argv: string[], timeoutMs = 3_000): { code: number | null; out: string } {
  try {
    const r = Bun.spawnSync(argv, { stdout: 'pipe', stderr: 'pipe', timeout: timeoutMs });
    return { code: r.exitCode, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
  } catch {
    return { code: null, out: '' };
  }
}

export function runtimeFacts(): RuntimeFacts {
  const node = run(['node', '--version']);
  let os: string | null = null;
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null;
  } catch {
    // not Linux, or a minimal container
  }
  return {
    bun: process.versions.bun ?? null,
    node: node.code === 0 ? node.out.replace(/^v/, '') : null,
    platform: process.platform,
    arch: process.arch,
    os,
  };
}

export interface ClockFacts {
  now: Date;
  /** Where the synchronisation state came from; null: nothing this system exposes. */
  source: 'adjtimex' | 'timedatectl' | 'timesyncd' | null;
  /** The kernel clock is disciplined by NTP (chrony, ntpd, systemd-timesyncd); null: unknown. */
  synchronized: boolean | null;
  /** The kernel's maximum error estimate, microseconds (adjtimex). */
  max_error_us?: number;
}

/** timex on 64-bit Linux (x64, arm64 — the platforms Bun runs on): 208 bytes; maxerror at 24, status at 40. */
const TIMEX_BYTES = 208;
/** What systemd-timedated (timedatectl's NTPSynchronized) takes as synchronised: a maximum error under 16 s. */
const SYNCED_MAX_ERROR_US = 16_000_000;

async function adjtimex(): Promise<{ maxError: number; status: number } | null> {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return null;
  try {
    const { dlopen, FFIType, ptr } = await import('bun:ffi');
    for (const name of ['libc.so.6', 'libc.so']) {
      let lib;
      try {
        lib = dlopen(name, { adjtimex: { args: [FFIType.ptr], returns: FFIType.i32 } });
      } catch {
        continue;
      }
      try {
        const buf = new Uint8Array(TIMEX_BYTES); // modes = 0: read only
        if (lib.symbols.adjtimex(ptr(buf)) < 0) return null;
        const view = new DataView(buf.buffer);
        return { maxError: Number(view.getBigInt64(24, true)), status: view.getInt32(40, true) };
      } finally {
        lib.close();
      }
    }
  } catch {
    // no FFI here
  }
  return null;
}

export async function clockFacts(now: Date): Promise<ClockFacts> {
  const k = await adjtimex();
  if (k) return { now, source: 'adjtimex', synchronized: k.maxError < SYNCED_MAX_ERROR_US, max_error_us: k.maxError };
  const t = run(['timedatectl', 'show', '-p', 'NTPSynchronized', '--value']);
  if (t.code === 0 && /^(yes|no)$/.test(t.out)) return { now, source: 'timedatectl', synchronized: t.out === 'yes' };
  if (existsSync('/run/systemd/timesync/synchronized')) return { now, source: 'timesyncd', synchronized: true };
  return { now, source: null, synchronized: null };
}

export interface DiskFacts {
  path: string;
  free_bytes: number;
  total_bytes: number;
}

export function diskFacts(path: string): DiskFacts | null {
  try {
    const s = statfsSync(path);
    return { path, free_bytes: Number(s.bavail) * Number(s.bsize), total_bytes: Number(s.blocks) * Number(s.bsize) };
  } catch {
    return null;
  }
}

export type PortState = 'free' | 'in_use' | 'forbidden' | 'no_such_address' | 'error';

/** Whether this process could listen on host:port now (it listens for a moment, then closes). */
export function probePort(host: string, port: number): Promise<{ state: PortState; error?: string }> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      const state: PortState = err.code === 'EADDRINUSE' ? 'in_use' : err.code === 'EACCES' ? 'forbidden' : err.code === 'EADDRNOTAVAIL' ? 'no_such_address' : 'error';
      resolve({ state, error: err.message });
    });
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve({ state: 'free' })));
  });
}

/** The address to reach a server listening on HOST (a wildcard is reached on loopback). */
export function localAddress(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export interface CollectorProbe {
  url: string;
  /** /healthz answered with a MeshMon body (200 or 503). */
  healthz: { status: number; body: Record<string, any> } | null;
  /** The /metrics text, when it answered 200. */
  metrics: string | null;
  /** When the collector process started (from its metrics). */
  startedAt?: string;
  error?: string;
}

/** Asks a collector on HOST:PORT for /healthz and /metrics (2 s each). */
export async function probeCollector(config: Config): Promise<CollectorProbe> {
  const url = `http://${localAddress(config.HOST)}:${config.PORT}`;
  const probe: CollectorProbe = { url, healthz: null, metrics: null };
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
    const body = (await res.json().catch(() => null)) as Record<string, any> | null;
    if (!body || typeof body.version !== 'string' || typeof body.database !== 'object') {
      probe.error = `something answers on ${url} but it is not a MeshMon collector (HTTP ${res.status})`;
      return probe;
    }
    probe.healthz = { status: res.status, body };
  } catch (err) {
    probe.error = (err as Error).message;
    return probe;
  }
  try {
    const res = await fetch(`${url}/metrics`, {
      signal: AbortSignal.timeout(2_000),
      headers: config.API_TOKEN ? { Authorization: `Bearer ${config.API_TOKEN}` } : {},
    });
    if (res.ok) {
      probe.metrics = await res.text();
      const start = /^meshmon_process_start_time_seconds (\S+)$/m.exec(probe.metrics)?.[1];
      if (start) probe.startedAt = new Date(Number(start) * 1000).toISOString();
    }
    else probe.error = `/metrics answered ${res.status}`;
  } catch (err) {
    probe.error = `/metrics: ${(err as Error).message}`;
  }
  return probe;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (what /metrics serves): enough for doctor's few counters. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}
