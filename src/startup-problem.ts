/**
 * A condition that stops the collector (or a command) and that waiting or
 * retrying cannot fix: a setting, a directory's permissions, the database
 * server's configuration. Like a bad variable, it ends the process with
 * exit status 2, which the systemd unit does not restart
 * (RestartPreventExitStatus=2). `meshmon doctor` reports the same conditions
 * with the same wording.
 */
export class StartupProblem extends Error {
  readonly exitCode = 2;

  constructor(
    /** Stable identifier for logs and scripts, e.g. `timescaledb_not_preloaded`. */
    readonly problem: string,
    message: string,
    /** What to do, one way per entry. */
    readonly fix: string[],
    /** What was found, for the JSON log line. */
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'StartupProblem';
  }

  /** The text for a person at a terminal (stderr). */
  describe(prefix = 'meshmon'): string {
    const ways = this.fix.length === 1 ? `To fix it: ${this.fix[0]}` : `To fix it, either:\n${this.fix.map((f, i) => `  ${i + 1}. ${f}`).join('\n')}`;
    return `${prefix}: ${this.message}\n${ways}`;
  }

  /** The fields of the start-up log line, in the /healthz style. */
  toLog(): Record<string, unknown> {
    return { problem: this.problem, err: this.message, fix: this.fix, ...this.detail };
  }
}
