import pg from 'pg';

/** The server tests and tools create scratch databases on (set by preload when embedded). */
export function adminUrl(): string {
  return process.env.MESHMON_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export function databaseUrl(name: string, base = adminUrl()): string {
  const u = new URL(base);
  u.pathname = '/' + name;
  return u.toString();
}

export async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>, base = adminUrl()): Promise<T> {
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function scratchName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
}

export async function createScratchDatabase(prefix = 'meshmon_scratch'): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = scratchName(prefix);
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    name,
    url: databaseUrl(name),
    drop: () => withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}
