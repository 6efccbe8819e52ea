import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { startServer } from './server.ts';

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
  let running;
  try {
    running = await startServer(config, log);
  } catch (err) {
    log.error('collector failed to start', { err: (err as Error).message });
    process.exit(1);
  }
  const stop = (signal: string) => {
    running.shutdown(signal).then(
      () => process.exit(0),
      (err) => {
        log.error('shutdown failed', { err: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
