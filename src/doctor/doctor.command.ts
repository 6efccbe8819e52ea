import pkg from '../../package.json' with { type: 'json' };
import { createLogger, stderrSink } from '../log.ts';
import { parseArgs } from '../ops/cli-args.ts';
import type { CheckStatus, DoctorReport } from './doctor.schema.ts';
import { runDoctor } from './doctor.service.ts';

const USAGE = `usage: meshmon doctor [--json]

Checks what the collector depends on and prints each check as ok [✓],
warning [!], failure [✗] or not checked [-], with the fix: the runtime, the
configuration, DATA_DIR, the ports, a running collector, the database and
TimescaleDB (the mode the collector would choose), free disk space and the
days of data it leaves, the clock (NTP and the agents' skew), the last
ingest and what was dropped, agents posting to wrong paths, the Issue
Engine's last tick and the maintenance jobs.

Reads the same environment as the collector. Works whether or not a
collector is running; with the embedded database and no collector running,
an existing embedded cluster is started for the checks and stopped again.

  --json   the report as JSON (for scripts)

Exit status: 0 when nothing failed (warnings allowed), 1 when a check
failed, 2 on a usage error.`;

const MARK: Record<CheckStatus, string> = { ok: '[✓]', warn: '[!]', fail: '[✗]', skip: '[-]' };

/** The report for a person at a terminal, flutter-doctor style. */
export function formatDoctor(r: DoctorReport): string {
  const out = [`MeshMon doctor (collector ${r.version}, ${r.checked_at})`, ''];
  for (const c of r.checks) {
    out.push(`${MARK[c.status]} ${c.title}: ${c.summary}`);
    for (const n of c.notes) out.push(`    • ${n}`);
    for (const f of c.fix) out.push(`    → ${f}`);
  }
  out.push('');
  const { fail, warn, skip } = r.counts;
  out.push(fail || warn
    ? `${fail ? `${fail} problem${fail === 1 ? '' : 's'}` : 'no problem'}${warn ? `, ${warn} warning${warn === 1 ? '' : 's'}` : ''}${skip ? ` (${skip} not checked)` : ''}.`
    : `No issues found${skip ? ` (${skip} not checked)` : ''}.`);
  return out.join('\n');
}

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, { values: [], booleans: ['json', 'help'] });
    if (parsed.positional.length) throw new Error(`unexpected argument ${parsed.positional[0]}`);
  } catch (err) {
    console.error(`meshmon doctor: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.flags.has('help')) {
    console.log(USAGE);
    return 0;
  }
  const log = createLogger(process.env.LOG_LEVEL === 'debug' ? 'debug' : 'error', stderrSink).child({ command: 'doctor' });
  const report = await runDoctor({ log, minBun: pkg.devDependencies.bun });
  console.log(parsed.flags.has('json') ? JSON.stringify(report, null, 2) : formatDoctor(report));
  return report.ok ? 0 : 1;
}
