import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { createDatabase, createPool } from '../db/database.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { createLogger, stderrSink } from '../log.ts';
import { ReplayInputError, replayFile, type ReplayOptions } from './replay.ts';
import { DEFAULT_RULES, loadRulesFile, RulesFileError, type RulesConfig } from './rules.config.ts';

export const USAGE = `usage: meshmon replay FILE [--rules FILE] [--tick SECONDS] [--database-url URL]

Replays a recording of agent messages (NDJSON or .ndjson.gz, one meshmon.v1
message per line, ordered by sent_at) through ingest and the Issue Engine in
simulated time, and prints every incident, open and closed, as one JSON array
on stdout (the API's incident shape). Logs go to stderr as JSON lines.

  --rules FILE         thresholds to use (default: RULES_FILE if set, else the built-in defaults)
  --tick SECONDS       simulated seconds between engine ticks (default 10)
  --database-url URL   replay into this empty scratch database instead of a
                       temporary embedded PostgreSQL
  -h, --help           show this help

Exit codes: 0 done, 1 replay failed, 2 usage error (bad flag, missing or
unreadable file, bad rules file, non-empty database).`;

class UsageError extends Error {}

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        rules: { type: 'string' },
        tick: { type: 'string' },
        'database-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }

  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) return inputError(err.message);
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL, stderrSink).child({ cmd: 'replay' });

  let file: string, tickSeconds: number, rules: RulesConfig, rulesSource: string;
  try {
    if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one FILE, got ${positionals.length}: ${positionals.join(' ')}` : 'missing FILE');
    file = positionals[0]!;
    tickSeconds = values.tick === undefined ? 10 : Number(values.tick);
    if (!Number.isFinite(tickSeconds) || tickSeconds <= 0 || tickSeconds > 3600) {
      throw new UsageError(`--tick must be a number of seconds between 0 and 3600, got "${values.tick}"`);
    }
    if (values['database-url'] !== undefined && !/^postgres(ql)?:\/\//.test(values['database-url'])) {
      throw new UsageError('--database-url must be a postgres:// or postgresql:// URL');
    }
    const rulesFile = values.rules ?? config.RULES_FILE;
    rulesSource = rulesFile ?? '(defaults)';
    rules = rulesFile ? loadRulesFile(rulesFile) : DEFAULT_RULES;
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    if (err instanceof RulesFileError) return inputError(err.message);
    throw err;
  }

  const abort = new AbortController();
  const opts: ReplayOptions = { rules, tickSeconds, log, config, signal: abort.signal };
  let cleanup: (() => Promise<void>) | null = null;
  if (values['database-url']) {
    const pool = createPool({ url: values['database-url'], max: 2, log, applicationName: 'meshmon-replay' });
    const db = createDatabase(pool);
    cleanup = () => db.destroy();
    opts.db = db;
  }

  // An interrupted replay still stops its embedded server and removes its directory.
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  log.info('replay started', { file, tick_s: tickSeconds, rules: rulesSource, database: values['database-url'] ? 'url' : 'embedded' });
  try {
    if (opts.db) await migrateToLatest(opts.db, { timescaledb: config.TIMESCALEDB, log });
    const incidents = await replayFile(file, opts);
    await writeStdout(JSON.stringify(incidents, null, 2) + '\n');
    return 0;
  } catch (err) {
    if (err instanceof ReplayInputError) return inputError(err.message);
    log.error('replay failed', { err: (err as Error).message });
    return abort.signal.aborted ? 130 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup?.().catch(() => {});
  }
}

function usageError(message: string): number {
  process.stderr.write(`meshmon replay: ${message}\n\n${USAGE}\n`);
  return 2;
}

/** The arguments were fine but what they name is not (file, rules, database): the message alone. */
function inputError(message: string): number {
  process.stderr.write(`meshmon replay: ${message}\n(see meshmon replay --help)\n`);
  return 2;
}

/** The CLI exits right after run() returns: stdout must be flushed first when it is a pipe. */
function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
