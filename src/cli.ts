// `meshmon <command>`: one CLI for the server and the operator's tools.
// Commands are imported on demand so `meshmon status` does not load the HTTP stack.

type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  serve: { summary: 'start the collector (same as npm start)', load: () => import('./serve.command.ts') },
  migrate: { summary: 'bring the database schema up to date and exit', load: () => import('./db/migrate.command.ts') },
  replay: { summary: 'replay an NDJSON(.gz) recording through ingest + engine; print incidents as JSON', load: () => import('./engine/replay.command.ts') },
  backup: { summary: 'write a compressed pg_dump to DATA_DIR/backups (or --out FILE)', load: () => import('./ops/backup.command.ts') },
  restore: { summary: 'restore a backup into an empty database (--force to replace)', load: () => import('./ops/restore.command.ts') },
  simulate: { summary: 'stream a simulated mesh with faults to a collector (--url), or record it as a scenario', load: () => import('./simulate/simulate.command.ts') },
  status: { summary: 'print mode, sizes, row counts, job states and open incidents (--json)', load: () => import('./ops/status.command.ts') },
  doctor: { summary: 'check what the collector depends on; each check ok / warn / fail with the fix (--json)', load: () => import('./doctor/doctor.command.ts') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    'usage: meshmon <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Configuration comes from the environment (see README.md).',
  ].join('\n');
}

const [name, ...args] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h' || name === 'help') {
  console.log(usage());
  process.exit(name ? 0 : 2);
}
const command = commands[name];
if (!command) {
  console.error(`meshmon: unknown command "${name}"\n\n${usage()}`);
  process.exit(2);
}
const mod = await command.load();
const code = await mod.run(args);
if (name !== 'serve') process.exit(code);
export {};
