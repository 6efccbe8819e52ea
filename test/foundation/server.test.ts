// startServer in-process against real databases: the embedded default keeping
// its data across restarts, HTTP/1.0 without Host, graceful shutdown.
import { afterEach, describe, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { configFrom } from '../../src/config.ts';
import { listJobRuns, saveJobRun } from '../../src/jobs/job-state.repository.ts';
import { silentLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { createScratchDatabase } from '../support/admin.ts';
import { findFreePort } from '../support/free-port.ts';
import { tempDataDir } from '../support/temp-dir.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

const quiet = { HOST: '127.0.0.1', PORT: '0', ENGINE_ENABLED: 'false', LOG_LEVEL: 'silent' } as const;

/** A collector on a scratch database of the local server, listening on a free port. */
async function scratchServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const scratch = await createScratchDatabase('meshmon_server');
  cleanups.push(scratch.drop);
  const s = await startServer(configFrom({ ...quiet, DATABASE_URL: scratch.url, TIMESCALEDB: 'off', ...env }), silentLogger);
  cleanups.push(() => s.shutdown('test'));
  return s;
}

/** Writes `request` on a fresh TCP connection and returns everything the server sent before closing. */
function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no close within 10 s; got: ${data}`)));
    socket.on('data', (d) => { data += d; });
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.write(request);
  });
}

function parseRaw(raw: string) {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const [statusLine, ...headerLines] = head!.split('\r\n');
  const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
}

describe('startServer on the embedded database', () => {
  test('data survives a restart of the collector on the same DATA_DIR', async () => {
    const data = await tempDataDir('meshmon-server-data');
    cleanups.push(data.remove);
    const config = configFrom({ ...quiet, DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(await findFreePort()) });
    const pidFile = path.join(data.dir, 'postgres', 'postmaster.pid');

    const first = await startServer(config, silentLogger);
    cleanups.push(() => first.shutdown('test'));
    expect(first.deps.embedded).toBe(true);
    expect(first.deps.dbInfo.mode).toBe('none');
    await saveJobRun(first.deps.db, 'persistence-check', { at: new Date('2026-03-02T12:00:00Z'), ok: true, result: 'ok', durationMs: 1 });
    await first.shutdown('test');
    expect(existsSync(pidFile)).toBe(false);

    const second = await startServer(config, silentLogger);
    cleanups.push(() => second.shutdown('test'));
    const runs = await listJobRuns(second.deps.db);
    expect(runs.find((r) => r.name === 'persistence-check')?.last_result).toBe('ok');
    const res = await fetch(`${second.url}/healthz`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { database: { embedded: boolean } }).database.embedded).toBe(true);
    await second.shutdown('test');
    expect(existsSync(pidFile)).toBe(false);
  }, 120_000);

  test('a second collector on a DATA_DIR in use by a live one is refused, the first keeps running', async () => {
    const data = await tempDataDir('meshmon-server-busy');
    cleanups.push(data.remove);
    const config = configFrom({ ...quiet, DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(await findFreePort()) });
    const first = await startServer(config, silentLogger);
    cleanups.push(() => first.shutdown('test'));
    // Another port, same directory: the leftover-server clean-up must not stop a live collector's server.
    const other = configFrom({ ...quiet, DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(await findFreePort()) });
    await expect(startServer(other, silentLogger)).rejects.toThrow(/in use|already in use|lock file/);
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
  }, 120_000);
});

describe('HTTP edge cases on a real Bun.serve', () => {
  test('HTTP/1.0 with Connection: close and no Host header is answered properly', async () => {
    const s = await scratchServer();
    s.app.post('/test/echo', async (c) => c.json({ got: await c.req.json(), path: c.req.path }));

    const get = parseRaw(await rawHttp(s.port, 'GET /healthz HTTP/1.0\r\nConnection: close\r\n\r\n'));
    expect(get.status).toBe(200);
    expect(get.headers['content-type']).toStartWith('application/json');
    expect(JSON.parse(get.body).database.mode).toBe('none');

    const payload = JSON.stringify({ schema: 'meshmon.v1', n: 1 });
    const post = parseRaw(await rawHttp(s.port,
      `POST /test/echo HTTP/1.0\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`));
    expect(post.status).toBe(200);
    expect(JSON.parse(post.body)).toEqual({ got: { schema: 'meshmon.v1', n: 1 }, path: '/test/echo' });

    const missing = parseRaw(await rawHttp(s.port, 'GET /nowhere HTTP/1.0\r\n\r\n'));
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
  }, 60_000);

  test('graceful shutdown finishes an in-flight request, then refuses new connections', async () => {
    const s = await scratchServer();
    let started!: () => void;
    const inHandler = new Promise<void>((r) => { started = r; });
    s.app.get('/test/slow', async (c) => {
      started();
      await Bun.sleep(1_000);
      return c.json({ finished: true });
    });

    const pending = fetch(`${s.url}/test/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
    await inHandler;
    const stopped = s.shutdown('test');
    expect(await pending).toEqual({ status: 200, body: { finished: true } });
    await stopped;
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  }, 60_000);

  test('a request outlasting SHUTDOWN_TIMEOUT is cut off and shutdown still completes', async () => {
    const s = await scratchServer({ SHUTDOWN_TIMEOUT: '0.5' });
    let started!: () => void;
    const inHandler = new Promise<void>((r) => { started = r; });
    s.app.get('/test/stuck', async (c) => {
      started();
      await Bun.sleep(30_000);
      return c.text('too late');
    });
    const pending = fetch(`${s.url}/test/stuck`).then((r) => r.status, () => 'connection closed');
    await inHandler;
    await s.shutdown('test');
    expect(await pending).toBe('connection closed');
  }, 60_000);
});
