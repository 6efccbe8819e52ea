import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { startServer, type RunningServer } from './server.ts';
import { StartupProblem } from './startup-problem.ts';

/** Starts the collector and stops it cleanly on SIGTERM/SIGINT. */
export async function runServe(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`meshmon: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);

  // One stray promise (a driver callback, a timer in a job) must not take the
  // collector and its data flow down: log it and carry on.
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled promise rejection', { err: reason instanceof Error ? reason : String(reason) });
  });

  let running: RunningServer | null = null;
  let stopping = false;
  const stop = (signal: string, code = 0) => {
    if (stopping) {
      // A second Ctrl-C means "now".
      log.warn('second signal during shutdown; exiting at once', { signal });
      process.exit(code || 1);
    }
    stopping = true;
    // Nothing to drain during start-up; an embedded server started by then is
    // stopped as a leftover by the next start.
    if (!running) process.exit(code);
    running.shutdown(signal).then(
      () => process.exit(code),
      (err) => {
        log.error('shutdown failed', { err: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // State after an exception thrown out of nowhere is unknown: stop in order
  // (so the embedded database shuts down cleanly) and let the supervisor restart us.
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception; shutting down', { err });
    stop('uncaughtException', 1);
  });

  try {
    running = await startServer(config, log);
  } catch (err) {
    if (err instanceof StartupProblem) {
      // A person reads stderr; the journal and log shippers read the JSON line.
      process.stderr.write(`${err.describe()}\n`);
      log.error('collector cannot start', err.toLog());
      process.exit(err.exitCode);
    }
    log.error('collector failed to start', { err: (err as Error).message });
    process.exit(1);
  }
}
