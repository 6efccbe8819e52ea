import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger, stderrSink, type Logger, type LogLevel } from './log.ts';
import type { ToolDatabase } from './ops/tool-db.ts';
import { StartupProblem } from './startup-problem.ts';

// How every `meshmon` command starts and ends: its arguments (node:util
// parseArgs, strict; `--help`/`-h`), then the configuration, a logger, and
// the database when the command asks for it — closed again whatever happens.
// Exit statuses are the same everywhere: 0 done, 1 failed, 2 for what only
// the operator can fix (a usage error, a bad variable, a StartupProblem).

/** Wrong arguments: exit 2, with the command's usage. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the command explains in one line (`meshmon <name>: <message>`); 2: an input to fix. */
export class CommandFailure extends Error {
  override name = 'CommandFailure';
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  /** `meshmon <name>`. */
  name: string;
  /** Printed by --help (stdout) and after a usage error (stderr). */
  usage: string;
  /** parseArgs options; `help` (-h) is added. */
  options: O;
  /** What is wrong with the positional arguments, or null. Default: none are taken. */
  positionals?: (given: string[]) => string | null;
  /** Read the configuration (default true). False for commands that read the environment their own way. */
  config?: boolean;
  /** Default: `debug` when LOG_LEVEL=debug, else `warn` (a command prints its own lines). */
  logLevel?: (config: Config | null) => LogLevel;
  /** Where log lines go (default stderr: stdout is the command's output). */
  logSink?: (line: string) => void;
  /** Fields on every log line (default `{ command: name }`). */
  logFields?: Record<string, unknown>;
}

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

export interface ArgsContext<O extends ParseArgsOptionsConfig> {
  values: Parsed<O>['values'];
  positionals: string[];
  log: Logger;
}

export interface CommandContext<O extends ParseArgsOptionsConfig> extends ArgsContext<O> {
  config: Config;
  /** The collector's database (DATABASE_URL, or the embedded one, running or started for the command); opened once, closed when the command ends. */
  database(): Promise<ToolDatabase>;
}

const withHelp = <O extends ParseArgsOptionsConfig>(options: O) => ({ ...options, help: { type: 'boolean', short: 'h' } }) as O;

/** The arguments, or 'help'; a UsageError says what is wrong in the command's own words. */
export function parseCommandArgs<O extends ParseArgsOptionsConfig>(spec: Pick<CommandSpec<O>, 'options' | 'positionals'>, argv: string[]): Parsed<O> | 'help' {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: argv, options: withHelp(spec.options), allowPositionals: true, strict: true }) as Parsed<O>;
  } catch (err) {
    throw new UsageError(usageMessage(err as Error & { code?: string }));
  }
  if ((parsed.values as { help?: boolean }).help) return 'help';
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value === '') throw new UsageError(`--${name} needs a value`);
  }
  const wrong = spec.positionals ? spec.positionals(parsed.positionals) : parsed.positionals.length ? `unexpected argument ${parsed.positionals[0]}` : null;
  if (wrong) throw new UsageError(wrong);
  return parsed;
}

/** node:util's messages, in the words the commands used before it. */
function usageMessage(err: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(err.message)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option ${option}`;
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    if (/does not take an argument/.test(err.message)) return `${option} takes no value`;
    if (/ambiguous/.test(err.message)) return `${option} needs a value (one that starts with a dash is written ${option}=-…)`;
    return `${option} needs a value`;
  }
  return err.message;
}

export function runCommand<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O> & { config: false }, argv: string[], main: (ctx: ArgsContext<O>) => Promise<number>): Promise<number>;
export function runCommand<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O>, argv: string[], main: (ctx: CommandContext<O>) => Promise<number>): Promise<number>;
export async function runCommand<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O>, argv: string[], main: (ctx: CommandContext<O>) => Promise<number>): Promise<number> {
  const prefix = `meshmon ${spec.name}`;
  const say = (text: string) => process.stderr.write(`${text}\n`);
  let args: Parsed<O> | 'help';
  try {
    args = parseCommandArgs(spec, argv);
  } catch (err) {
    say(`${prefix}: ${(err as Error).message}\n\n${spec.usage}`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(`${spec.usage}\n`);
    return 0;
  }

  let config: Config | null = null;
  if (spec.config !== false) {
    try {
      config = loadConfig();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      say(`meshmon: ${err.message}`);
      return 2;
    }
  }
  const level = spec.logLevel ? spec.logLevel(config) : config?.LOG_LEVEL === 'debug' ? 'debug' : 'warn';
  const log = createLogger(level, spec.logSink ?? stderrSink).child(spec.logFields ?? { command: spec.name });

  let database: Promise<ToolDatabase> | null = null;
  const open = async (): Promise<ToolDatabase> => {
    const { openToolDatabase } = await import('./ops/tool-db.ts');
    try {
      return await openToolDatabase(config!, log, `meshmon-${spec.name}`);
    } catch (err) {
      if (err instanceof StartupProblem) throw err;
      throw new CommandFailure(`cannot reach the database: ${(err as Error).message}`);
    }
  };
  try {
    return await main({ values: args.values, positionals: args.positionals, log, config: config!, database: () => (database ??= open()) });
  } catch (err) {
    if (err instanceof UsageError) {
      say(`${prefix}: ${err.message}\n\n${spec.usage}`);
      return 2;
    }
    if (err instanceof StartupProblem) {
      say(err.describe(prefix));
      return err.exitCode;
    }
    if (err instanceof CommandFailure) {
      say(`${prefix}: ${err.message}${err.exitCode === 2 ? `\n(see ${prefix} --help)` : ''}`);
      return err.exitCode;
    }
    say(`${prefix}: ${(err as Error).message ?? String(err)}`);
    return 1;
  } finally {
    if (database) await (await (database as Promise<ToolDatabase>).catch(() => null))?.close();
  }
}
