import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

export type PgTool = 'pg_dump' | 'pg_restore';

export interface FoundTool {
  path: string;
  major: number;
  version: string;
}

export class PgToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgToolError';
  }
}

const PG_LIB = '/usr/lib/postgresql';

/** "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" → 15; "9.6.24" → 9 (9.x majors are 9.x, close enough here). */
export function parseToolVersion(output: string): { major: number; version: string } | null {
  const m = output.match(/\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/);
  if (!m) return null;
  return { major: Number(m[1]), version: m[2] ? `${m[1]}.${m[2]}` : m[1]! };
}

async function probe(file: string): Promise<FoundTool | null> {
  try {
    const proc = Bun.spawn([file, '--version'], { stdout: 'pipe', stderr: 'pipe' });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    if (code !== 0) return null;
    const v = parseToolVersion(out);
    return v ? { path: file, ...v } : null;
  } catch {
    return null;
  }
}

/**
 * A pg_dump / pg_restore able to talk to a server of `serverMajor`: one of the
 * same major is preferred (Debian's /usr/lib/postgresql/<major>/bin, then
 * PATH, then other installed majors); a newer one is accepted (both tools read
 * older servers), an older one never (pg_dump refuses a newer server). The
 * error says what was found and how to get the right one.
 */
export async function findPgTool(tool: PgTool, serverMajor: number, opts: { binDir?: string; searchPath?: string; libDir?: string } = {}): Promise<FoundTool> {
  const libDir = opts.libDir ?? PG_LIB;
  const candidates: string[] = [];
  if (opts.binDir) {
    // An explicit directory is the operator's choice: nothing else is tried.
    candidates.push(path.join(opts.binDir, tool));
  } else {
    candidates.push(path.join(libDir, String(serverMajor), 'bin', tool));
    const onPath = Bun.which(tool, opts.searchPath !== undefined ? { PATH: opts.searchPath } : undefined);
    if (onPath) candidates.push(onPath);
    if (existsSync(libDir)) {
      for (const d of readdirSync(libDir).filter((x) => /^\d+$/.test(x)).sort((a, b) => Number(b) - Number(a))) {
        candidates.push(path.join(libDir, d, 'bin', tool));
      }
    }
  }
  const found: FoundTool[] = [];
  for (const c of [...new Set(candidates)]) {
    if (!existsSync(c)) continue;
    const f = await probe(c);
    if (f) found.push(f);
  }
  const exact = found.find((f) => f.major === serverMajor);
  if (exact) return exact;
  const newer = found.filter((f) => f.major > serverMajor).sort((a, b) => a.major - b.major)[0];
  if (newer) return newer;
  const hint =
    `install the PostgreSQL ${serverMajor} client tools (Debian/Raspberry Pi OS: apt install postgresql-client-${serverMajor}), ` +
    `pass --pg-bin DIR, or run ${tool} inside the database container (docker compose exec db ${tool} ...; see docs/operations.md)`;
  if (!found.length) {
    const where = opts.binDir ? `in ${opts.binDir}` : `on PATH or in ${libDir}/*/bin`;
    throw new PgToolError(`${tool} not found ${where}; ${hint}`);
  }
  throw new PgToolError(
    `${tool} ${found.map((f) => f.version).join(', ')} found, but the server is PostgreSQL ${serverMajor} and ${tool} must be at least that version; ${hint}`,
  );
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a client tool with the password in the environment; its output is returned, not printed. */
export async function runPgTool(tool: FoundTool, args: string[], password: string | undefined): Promise<RunResult> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  if (password !== undefined) env.PGPASSWORD = password;
  const proc = Bun.spawn([tool.path, ...args], { stdout: 'pipe', stderr: 'pipe', env });
  const [stderr, stdout, code] = await Promise.all([new Response(proc.stderr).text(), new Response(proc.stdout).text(), proc.exited]);
  return { code, stdout, stderr };
}

/**
 * Lines pg_dump prints for every TimescaleDB database and that mean nothing:
 * its catalog tables reference each other ("circular foreign-key constraints").
 */
export function meaningfulStderr(stderr: string): string[] {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/circular foreign-key constraints/.test(l)) {
      // Its DETAIL and HINT lines follow.
      while (/^(pg_dump: )?(detail|hint):/i.test(lines[i + 1] ?? '')) i++;
      continue;
    }
    out.push(l);
  }
  return out;
}
