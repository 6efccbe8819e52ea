import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from './free-port.ts';

/** Debian's binary (package prometheus-alertmanager; .ci/run installs it). */
export const ALERTMANAGER_BIN = process.env.MESHMON_ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** A webhook receiver on loopback that keeps every notification Alertmanager sends it. */
export function startWebhookReceiver() {
  const notifications: Array<{ status: string; alerts: WebhookAlert[] }> = [];
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (req) => {
      notifications.push((await req.json()) as { status: string; alerts: WebhookAlert[] });
      return new Response('ok');
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hook`,
    notifications,
    alerts: () => notifications.flatMap((n) => n.alerts),
    stop: () => server.stop(true),
  };
}

/**
 * A real Alertmanager on loopback: free web port, clustering off, its own
 * storage directory (kept across stop/start, like a restarted service), the
 * webhook receiver with short group_wait/group_interval, resolved
 * notifications on, one group per incident.
 */
export async function createAlertmanager(webhookUrl: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-am-'));
  const port = await findFreePort();
  const config = path.join(dir, 'alertmanager.yml');
  await writeFile(
    config,
    [
      'route:',
      '  receiver: test',
      "  group_by: ['incident_id']",
      '  group_wait: 1s',
      '  group_interval: 1s',
      '  repeat_interval: 4h',
      'receivers:',
      '  - name: test',
      '    webhook_configs:',
      `      - url: ${webhookUrl}`,
      '        send_resolved: true',
      '',
    ].join('\n'),
  );
  let proc: Bun.Subprocess | null = null;
  let output = '';
  const url = `http://127.0.0.1:${port}`;

  const start = async () => {
    const p = Bun.spawn(
      [ALERTMANAGER_BIN, `--config.file=${config}`, `--storage.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
      { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
    );
    proc = p;
    const drain = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) output += new TextDecoder().decode(chunk);
    };
    void drain(p.stdout as ReadableStream<Uint8Array>);
    void drain(p.stderr as ReadableStream<Uint8Array>);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`alertmanager exited with ${p.exitCode}:\n${output}`);
      try {
        if ((await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) })).ok) return;
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error(`alertmanager not ready within 30 s:\n${output}`);
      await Bun.sleep(100);
    }
  };

  /** SIGTERM, as a service manager stops it: Alertmanager writes its notification log to storage first. */
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGTERM');
    await p.exited;
  };

  return {
    url,
    start,
    stop,
    output: () => output,
    /** The alerts Alertmanager holds now (its API v2). */
    alerts: async () => (await (await fetch(`${url}/api/v2/alerts`)).json()) as Array<{ labels: Record<string, string>; status: { state: string } }>,
    destroy: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `cond` holds; throws with `what` after `ms`. A bound on waiting, not an assertion on time. */
export async function eventually<T>(what: string, cond: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}
