// /metrics of a real collector process passes `promtool check metrics`
// (Debian's prometheus package): names, types, suffixes, units and help texts
// follow the Prometheus conventions.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test';
import { spawnCollector, type CollectorProcess } from '../support/collector-process.ts';
import { describeEachMode } from '../support/databases.ts';
import { findFreePort } from '../support/free-port.ts';

setDefaultTimeout(120_000);

export const PROMTOOL_BIN = process.env.MESHMON_PROMTOOL_BIN ?? '/usr/bin/promtool';

describeEachMode(
  'promtool check metrics',
  (get) => {
    let c: CollectorProcess;
    beforeAll(async () => {
      // An Alertmanager nobody listens for: its metrics appear (and fail honestly).
      const deadPort = await findFreePort();
      c = await spawnCollector({
        DATABASE_URL: get().url!,
        LOG_LEVEL: 'warn',
        OPERATOR_TOKEN: 'operator-token-0123456789',
        ALERTMANAGER_URL: `http://127.0.0.1:${deadPort}`,
        ALERTMANAGER_INTERVAL: '1',
        ALERTMANAGER_TIMEOUT: '1',
        ENGINE_INTERVAL: '1',
      });
      await c.waitForHealth(200);
    });
    afterAll(async () => {
      await c?.stop();
    });

    test('passes on the live /metrics, with every family of the collector present', async () => {
      // Fill the labelled families: requests of several routes and statuses, an ingest, a failed write.
      await fetch(`${c.url}/issues`);
      await fetch(`${c.url}/nope`);
      await fetch(`${c.url}/ingest`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '[]' });
      await fetch(`${c.url}/maintenance`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      // The engine and the Alertmanager job have run at least once.
      const deadline = Date.now() + 60_000;
      let text = '';
      while (Date.now() < deadline) {
        text = await (await fetch(`${c.url}/metrics`)).text();
        if (/^meshmon_alertmanager_up 0$/m.test(text) && /^meshmon_engine_tick_duration_seconds_count [1-9]/m.test(text)) break;
        await Bun.sleep(200);
      }
      for (const family of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'meshmon_http_request_duration_seconds', 'meshmon_alertmanager_up', 'meshmon_incidents_open', 'meshmon_db_up']) {
        expect({ family, present: new RegExp(`^# TYPE ${family} `, 'm').test(text) }).toEqual({ family, present: true });
      }
      expect(text).not.toContain('meshmon_process_');

      const p = Bun.spawn([PROMTOOL_BIN, 'check', 'metrics'], { stdin: new Blob([text]), stdout: 'pipe', stderr: 'pipe' });
      const [out, err, code] = [await new Response(p.stdout).text(), await new Response(p.stderr).text(), await p.exited];
      expect({ code, problems: (out + err).trim() }).toEqual({ code: 0, problems: '' });
    });
  },
  ['none'],
);
