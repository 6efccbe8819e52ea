import { readFileSync } from 'node:fs';
import path from 'node:path';
import { findFreePort } from './free-port.ts';

export const REPO_ROOT = path.resolve(import.meta.dir, '../..');
export const MESHMON_BIN = path.join(REPO_ROOT, 'bin/meshmon');

export interface CollectorProcess {
  proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>;
  port: number;
  url: string;
  /** Everything the process wrote so far (stdout + stderr), for failure messages. */
  output(): string;
  /** Polls /healthz until it answers `status` (default 200); throws with the output on timeout or exit. */
  waitForHealth(status?: number, ms?: number): Promise<Record<string, any>>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/**
 * Starts a collector as its own process, the way a user does: `bin/meshmon
 * serve` (or any argv) with the given environment and a free PORT.
 */
export async function spawnCollector(
  env: Record<string, string>,
  argv: string[] = [MESHMON_BIN, 'serve'],
  opts: { logFile?: string } = {},
): Promise<CollectorProcess> {
  const port = env.PORT ? Number(env.PORT) : await findFreePort();
  // A bench sends its collector's log to a file, as a service manager would,
  // so that reading it does not compete with the load it measures.
  const sink = opts.logFile ? Bun.file(opts.logFile) : null;
  const proc = Bun.spawn(argv, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TZ: 'UTC', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdin: 'ignore',
    stdout: sink ?? 'pipe',
    stderr: sink ?? 'pipe',
  }) as Bun.Subprocess<'ignore', 'pipe', 'pipe'>;
  let out = '';
  const drain = async (s: ReadableStream<Uint8Array> | number | undefined) => {
    if (!(s instanceof ReadableStream)) return;
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
  const output = () => (opts.logFile ? readFileSync(opts.logFile, 'utf8') : out);
  const url = `http://127.0.0.1:${port}`;
  return {
    proc,
    port,
    url,
    output,
    async waitForHealth(status = 200, ms = 60_000) {
      const deadline = Date.now() + ms;
      let last = 'no answer';
      while (Date.now() < deadline) {
        if (proc.exitCode !== null) {
          await drained;
          throw new Error(`collector exited with ${proc.exitCode} before /healthz answered ${status}; output:\n${output()}`);
        }
        try {
          const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3_000) });
          const body = (await res.json()) as Record<string, any>;
          if (res.status === status) return body;
          last = `${res.status} ${JSON.stringify(body)}`;
        } catch (err) {
          last = (err as Error).message;
        }
        await Bun.sleep(100);
      }
      throw new Error(`/healthz did not answer ${status} within ${ms} ms (last: ${last}); output:\n${output()}`);
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      const code = await proc.exited;
      await drained;
      return code;
    },
  };
}
