// One "collector lifetime" of a replay, in its own process (test/engine/restart.test.ts):
//   bun test/support/replay-part.ts FILE DATABASE_URL AFTER|- UNTIL|-
// replays the ticks in (AFTER, UNTIL] into an already migrated database, so
// nothing of an earlier part survives in memory: only the database carries over.
import { createDatabase, createPool } from '../../src/db/database.ts';
import { replayFile } from '../../src/engine/replay.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { createLogger, stderrSink } from '../../src/log.ts';

const [file, url, after, until] = process.argv.slice(2);
if (!file || !url || !after || !until) {
  process.stderr.write('usage: replay-part.ts FILE DATABASE_URL AFTER|- UNTIL|-\n');
  process.exit(2);
}
const pool = createPool({ url, max: 2, applicationName: 'meshmon-replay-part' });
const db = createDatabase(pool);
try {
  const incidents = await replayFile(file, {
    rules: DEFAULT_RULES,
    tickSeconds: 10,
    db,
    log: createLogger('warn', stderrSink),
    ...(after !== '-' ? { after: new Date(after) } : {}),
    ...(until !== '-' ? { until: new Date(until) } : {}),
  });
  process.stdout.write(JSON.stringify(incidents));
} finally {
  await db.destroy();
}
