import { CommandFailure, runCommand, UsageError } from '../command.ts';
import type { Config } from '../config.ts';
import { createDatabase, createPool } from '../db/database.ts';
import { migrateToLatest } from '../db/migrate.ts';
import type { Incident } from '../incidents/incident.schema.ts';
import { ReplayInputError, replayFileWithStats, type ReplayOptions, type ReplayProgress, type ReplayStats } from './replay.ts';
import { DEFAULT_RULES, loadRulesFile, RulesFileError, type RulesConfig } from './rules.config.ts';

export const USAGE = `usage: meshmon replay FILE [--rules FILE] [--tick SECONDS] [--database-url URL] [--json]

Replays a recording of agent messages (NDJSON or .ndjson.gz, one meshmon.v1
message per line, ordered by sent_at) through ingest and the Issue Engine in
simulated time, and prints every incident, open and closed, as one JSON array
on stdout (the API's incident shape). Logs go to stderr as JSON lines. On a
terminal, a progress bar and a summary replace the log lines (warnings still
show) and the incidents are listed as a table (--json: the JSON anyway).

  --rules FILE         thresholds to use (default: RULES_FILE if set, else the built-in defaults)
  --tick SECONDS       simulated seconds between engine ticks (default 10)
  --database-url URL   replay into this empty scratch database instead of a
                       temporary embedded PostgreSQL
  --json               print the JSON on a terminal too
  -h, --help           show this help

Exit codes: 0 done, 1 replay failed, 2 usage error (bad flag, missing or
unreadable file, bad rules file, non-empty database).`;

export function run(args: string[], tty: { stdout: boolean; stderr: boolean } = { stdout: !!process.stdout.isTTY, stderr: !!process.stderr.isTTY }): Promise<number> {
  const options = { rules: { type: 'string' }, tick: { type: 'string' }, 'database-url': { type: 'string' }, json: { type: 'boolean' } } as const;
  const positionals = (p: string[]) => (p.length === 1 ? null : p.length ? `expected one FILE, got ${p.length}: ${p.join(' ')}` : 'missing FILE');
  // On a terminal a person watches: a progress bar and a summary instead of JSON log lines (warnings still show).
  const logLevel = (config: Config | null) => (tty.stderr && config!.LOG_LEVEL !== 'debug' ? 'warn' : config!.LOG_LEVEL);
  const bar = tty.stderr ? progressLine() : null;
  const logSink = (line: string) => { bar?.clear(); process.stderr.write(`${line}\n`); };
  return runCommand({ name: 'replay', usage: USAGE, options, positionals, logLevel, logSink }, args, async ({ values, positionals: [file], config, log }) => {
    const tickSeconds = values.tick === undefined ? 10 : Number(values.tick);
    if (!Number.isFinite(tickSeconds) || tickSeconds <= 0 || tickSeconds > 3600) {
      throw new UsageError(`--tick must be a number of seconds between 0 and 3600, got "${values.tick}"`);
    }
    if (values['database-url'] !== undefined && !/^postgres(ql)?:\/\//.test(values['database-url'])) {
      throw new UsageError('--database-url must be a postgres:// or postgresql:// URL');
    }
    const rulesFile = values.rules ?? config.RULES_FILE;
    let rules: RulesConfig;
    try {
      rules = rulesFile ? loadRulesFile(rulesFile) : DEFAULT_RULES;
    } catch (err) {
      if (err instanceof RulesFileError) throw new CommandFailure(err.message, 2);
      throw err;
    }

    const abort = new AbortController();
    const opts: ReplayOptions = { rules, tickSeconds, log, config, signal: abort.signal, ...(bar ? { onProgress: bar.update } : {}) };
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

    log.info('replay started', { file, tick_s: tickSeconds, rules: rulesFile ?? '(defaults)', database: values['database-url'] ? 'url' : 'embedded' });
    try {
      if (opts.db) await migrateToLatest(opts.db, { timescaledb: config.TIMESCALEDB, log });
      const { incidents, stats } = await replayFileWithStats(file!, opts);
      bar?.clear();
      if (tty.stderr) process.stderr.write(`${replaySummary(file!, stats, incidents)}\n`);
      await writeStdout(tty.stdout && !values.json ? `${incidentTable(incidents)}\n` : JSON.stringify(incidents, null, 2) + '\n');
      return 0;
    } catch (err) {
      bar?.clear();
      if (err instanceof ReplayInputError) throw new CommandFailure(err.message, 2);
      log.error('replay failed', { err: (err as Error).message });
      return abort.signal.aborted ? 130 : 1;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      await cleanup?.().catch(() => {});
    }
  });
}

/** One line on stderr, redrawn at most every 200 ms: the bar, how far, the simulated time. */
function progressLine() {
  let shown = false;
  let last = 0;
  return {
    update: (p: ReplayProgress) => {
      const at = performance.now();
      if (at - last < 200) return;
      last = at;
      process.stderr.write(`\r${progressBar(p)}\x1b[K`);
      shown = true;
    },
    clear: () => {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** `[#########-----------]  45%  2026-03-02 06:40Z  240 ticks  12,345 messages` */
export function progressBar(p: ReplayProgress, width = 24): string {
  const fraction = p.bytesTotal > 0 ? Math.min(1, p.bytesRead / p.bytesTotal) : 0;
  const filled = Math.round(fraction * width);
  const when = p.simulated.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, 'Z');
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%  ${when}  ${p.ticks.toLocaleString('en-US')} ticks  ${p.messages.toLocaleString('en-US')} messages`;
}

/** The end of a replay for a person: what was read, how long it took, what was found. */
export function replaySummary(file: string, s: ReplayStats, incidents: Incident[]): string {
  const open = incidents.filter((i) => i.status !== 'closed').length;
  const byKind = new Map<string, number>();
  for (const i of incidents) byKind.set(i.kind, (byKind.get(i.kind) ?? 0) + 1);
  const kinds = [...byKind].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k, n]) => `${n} ${k}`).join(', ');
  const lines = [
    `replayed ${file}: ${s.messages.toLocaleString('en-US')} messages in ${s.ticks.toLocaleString('en-US')} ticks (${s.first_tick ?? '-'} → ${s.last_tick ?? '-'}) in ${(s.total_ms / 1000).toFixed(1)} s`,
  ];
  if (s.skipped || s.partly_dropped) lines.push(`  ${s.skipped} line${s.skipped === 1 ? '' : 's'} skipped, ${s.partly_dropped} stored in part (see the warnings above)`);
  lines.push(`  ${incidents.length} incident${incidents.length === 1 ? '' : 's'}${incidents.length ? `: ${open} open, ${incidents.length - open} closed — ${kinds}` : ''}`);
  return lines.join('\n');
}

/** The incidents as a table, for a terminal (`--json`, or a pipe, gives the JSON). */
export function incidentTable(incidents: Incident[]): string {
  if (!incidents.length) return 'no incidents';
  const rows = [['STARTED', 'STATUS', 'SEVERITY', 'TITLE'], ...incidents.map((i) => [i.started_at, i.status, i.severity, i.title])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]!))).join('  ')).join('\n');
}

/** The CLI exits right after run() returns: stdout must be flushed first when it is a pipe. */
function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
