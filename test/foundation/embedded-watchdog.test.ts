// A collector killed with SIGKILL cannot stop its embedded PostgreSQL; its
// watchdog does (src/db/embedded.ts): no server is left running behind a
// dead collector, and the next start finds nothing to clean up.
import { afterEach, describe, expect, test } from 'bun:test';
import path from 'node:path';
import { runningServerPid } from '../../src/db/embedded.ts';
import { spawnCollector } from '../support/collector-process.ts';
import { findFreePort } from '../support/free-port.ts';
import { tempDataDir } from '../support/temp-dir.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Milliseconds until `pid` is gone (polled every 20 ms), or null if still there after `ms`. */
async function goneWithin(pid: number, ms: number): Promise<number | null> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (!alive(pid)) return performance.now() - t0;
    await Bun.sleep(20);
  }
  return null;
}

describe('kill -9 of the collector', () => {
  test('leaves no embedded PostgreSQL behind; the next start is clean', async () => {
    const data = await tempDataDir('meshmon-kill9');
    cleanups.push(async () => {
      for (let i = 0; i < 300 && runningServerPid(path.join(data.dir, 'postgres')); i++) await Bun.sleep(100);
      await data.remove();
    });
    const port = String(await findFreePort());
    const env = { DATA_DIR: data.dir, EMBEDDED_PG_PORT: port, LOG_LEVEL: 'warn' };
    const dir = path.join(data.dir, 'postgres');

    const timings: number[] = [];
    for (let round = 0; round < 3; round++) {
      const c = await spawnCollector(env);
      cleanups.push(() => c.stop('SIGKILL'));
      await c.waitForHealth(200, 90_000);
      // Busy, like a collector in service: connections open, a write in flight.
      await fetch(`${c.url}/ingest`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ schema: 'meshmon.v1', type: 'agent_health', node: `kill9-${round}`, sent_at: new Date().toISOString(), cpu_pct: 1, mem_mb: 5, queue_len: 0, neighbors_seen: 1 }),
      });
      const pg = runningServerPid(dir);
      expect(pg).toBeGreaterThan(0);

      c.proc.kill('SIGKILL');
      await c.proc.exited;
      const ms = await goneWithin(pg!, 60_000);
      expect({ round, left_running: ms === null }).toEqual({ round, left_running: false });
      timings.push(ms!);
      // The next start is a normal one: no "left running by an earlier collector".
      if (round === 2) {
        const next = await spawnCollector(env);
        cleanups.push(() => next.stop('SIGTERM'));
        await next.waitForHealth(200, 90_000);
        expect(next.output()).not.toContain('left running by an earlier collector');
        expect(await next.stop('SIGTERM')).toBe(0);
      }
    }
    // Measured figure for docs/operations.md (failure modes).
    console.error(`[kill -9] embedded PostgreSQL gone ${timings.map((t) => `${Math.round(t)} ms`).join(', ')} after the collector`);
  }, 300_000);
});
