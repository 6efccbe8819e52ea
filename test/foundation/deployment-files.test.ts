// compose.yaml, Dockerfile, .env.example and README.md, checked without a
// Docker engine (none on the CI machines): dclint for compose, reading for the rest.
import { describe, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.ts';
import { REPO_ROOT } from '../support/collector-process.ts';

const read = (f: string) => Bun.file(path.join(REPO_ROOT, f)).text();

/** KEY=value lines of an env file, comments and blanks skipped. */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

describe('compose.yaml', () => {
  test('passes dclint (the Compose schema and best-practice rules) without warnings', async () => {
    const proc = Bun.spawn([path.join(REPO_ROOT, 'node_modules/.bin/dclint'), '--max-warnings', '0', '--color', 'false', 'compose.yaml'], {
      cwd: REPO_ROOT,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, out: code ? out + err : '' }).toEqual({ code: 0, out: '' });
  }, 30_000);

  test('the database is pinned, private, persistent and health-checked', async () => {
    const compose = Bun.YAML.parse(await read('compose.yaml')) as any;
    const db = compose.services.db;
    expect(db.image).toBe('timescale/timescaledb:2.17.2-pg16');
    expect(db.ports).toBeUndefined();
    expect(db.expose).toBeUndefined();
    expect(db.restart).toBe('unless-stopped');
    expect(JSON.stringify(db.healthcheck.test)).toContain('pg_isready');
    const volume = db.volumes[0].split(':')[0];
    expect(Object.keys(compose.volumes)).toContain(volume);
    // No password in the file itself (known defect 15).
    expect(db.environment.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);

    const collector = compose.services.collector;
    expect(collector.build).toBeDefined();
    expect(collector.restart).toBe('unless-stopped');
    expect(collector.depends_on.db.condition).toBe('service_healthy');
    expect(collector.environment.DATABASE_URL).toContain('${POSTGRES_PASSWORD');
    expect(collector.environment.DATABASE_URL).toContain('@db:5432/');
    expect(collector.ports).toHaveLength(1);
    expect(collector.env_file[0].path).toBe('.env');
  });
});

describe('Dockerfile', () => {
  test('official Bun base, production dependencies only, non-root, health-checked', async () => {
    const text = await read('Dockerfile');
    const version = ((await Bun.file(path.join(REPO_ROOT, 'package.json')).json()) as { devDependencies: Record<string, string> }).devDependencies.bun;
    expect(text).toContain(`ARG BUN_VERSION=${version}`);
    expect(text).toMatch(/^FROM oven\/bun:\$\{BUN_VERSION\}-slim$/m);
    expect(text).toContain('npm ci --omit=dev');
    expect(text).toMatch(/^USER bun$/m);
    expect(text).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(text).toMatch(/^CMD \["bun", "--no-env-file", "src\/index.ts"\]$/m);
    // What the image copies exists (a renamed directory would break the build only on the Pi).
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(' ')) expect({ src, exists: existsSync(path.join(REPO_ROOT, src)) }).toEqual({ src, exists: true });
    }
  });

  test('.dockerignore keeps node_modules, data, .env and tests out of the build context', async () => {
    const lines = (await read('.dockerignore')).split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'data', '.env', 'test', '.git']) expect(lines).toContain(p);
  });
});

describe('.env.example and README.md', () => {
  test('.env.example documents every variable the collector reads, and is itself a valid configuration', async () => {
    const example = await read('.env.example');
    for (const name of CONFIG_VARIABLES) expect(example).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
    const values = parseEnvFile(example);
    expect(() => loadConfig(values)).not.toThrow();
  });

  test('README.md documents every variable the collector reads', async () => {
    const readme = await read('README.md');
    for (const name of CONFIG_VARIABLES) expect(readme).toContain(`\`${name}\``);
  });
});
