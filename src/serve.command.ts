import { runCommand } from './command.ts';
import { runServe } from './serve.ts';

const USAGE = `usage: meshmon serve

Starts the collector (the same as npm start): configuration from the
environment (README.md, Configuration), logs as JSON lines on stdout. Stops
cleanly on SIGTERM or Ctrl-C.`;

/** `meshmon serve` and `npm start`: resolves once the collector listens (it runs until a signal). */
export function run(args: string[]): Promise<number> {
  const logSink = (line: string) => { process.stdout.write(`${line}\n`); };
  return runCommand({ name: 'serve', usage: USAGE, options: {}, logLevel: (config) => config!.LOG_LEVEL, logSink, logFields: {} }, args, async ({ config, log }) => {
    await runServe(config, log);
    return 0;
  });
}
