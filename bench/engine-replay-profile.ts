// Where a replay's time goes, query by query:
//   ./node_modules/.bin/bun bench/engine-replay-profile.ts [SCENARIO] [--until ISO] [--top 25]
// Replays a bundled scenario into a scratch database on the local server
// (plain PostgreSQL) with Kysely's query log on, then prints the statements
// by total time (count, total, mean), and the time outside SQL.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect } from 'kysely';
import { createPool } from '../src/db/database.ts';
import type { DB } from '../src/db/schema.generated.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { replayFileWithStats } from '../src/engine/replay.ts';
import { DEFAULT_RULES } from '../src/engine/rules.config.ts';
import { createLogger, stderrSink } from '../src/log.ts';
import { createScratchDatabase } from '../test/support/admin.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { until: { type: 'string' }, top: { type: 'string', default: '25' } },
});
const name = positionals[0] ?? 'mesh16-core';
const file = path.resolve(import.meta.dir, `../test/fixtures/scenarios/${name}.ndjson.gz`);

const byQuery = new Map<string, { n: number; ms: number }>();
let sqlMs = 0;
const scratch = await createScratchDatabase('meshmon_bench_profile');
const pool = createPool({ url: scratch.url, max: 2, applicationName: 'meshmon-bench-profile' });
const db = new Kysely<DB>({
  dialect: new PostgresDialect({ pool }),
  log: (e) => {
    const key = e.query.sql.replace(/\s+/g, ' ').trim().slice(0, 110);
    const s = byQuery.get(key) ?? { n: 0, ms: 0 };
    s.n++;
    s.ms += e.queryDurationMillis;
    sqlMs += e.queryDurationMillis;
    byQuery.set(key, s);
  },
});
try {
  await migrateToLatest(db, { timescaledb: 'off' });
  byQuery.clear();
  sqlMs = 0;
  const { stats } = await replayFileWithStats(file, {
    rules: DEFAULT_RULES,
    tickSeconds: 10,
    db,
    log: createLogger('warn', stderrSink),
    ...(values.until ? { until: new Date(values.until) } : {}),
  });
  console.log(`${name}: ${stats.ticks} ticks, ${stats.messages} messages, ${(stats.total_ms / 1000).toFixed(1)} s ` +
    `(ingest ${(stats.ingest_ms / 1000).toFixed(1)} s, engine ${(stats.engine_ms / 1000).toFixed(1)} s); SQL ${(sqlMs / 1000).toFixed(1)} s, outside SQL ${((stats.total_ms - sqlMs) / 1000).toFixed(1)} s`);
  console.log('rules (s):', Object.fromEntries(Object.entries(stats.rule_ms).map(([k, v]) => [k, +(v / 1000).toFixed(1)])));
  console.log('\n| total s | count | mean ms | statement |\n|---:|---:|---:|---|');
  for (const [q, s] of [...byQuery].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top))) {
    console.log(`| ${(s.ms / 1000).toFixed(2)} | ${s.n} | ${(s.ms / s.n).toFixed(2)} | \`${q}\` |`);
  }
} finally {
  await db.destroy();
  await scratch.drop();
}
