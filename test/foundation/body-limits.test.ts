// Oversized bodies on a real Bun.serve: always a 413 problem+json (never the
// server's bare 413), read by a client that keeps writing rather than a
// reset; bodies of unknown length are never held beyond the limit.
import { afterEach, describe, expect, test } from 'bun:test';
import net from 'node:net';
import { configFrom } from '../../src/config.ts';
import { DRAIN_LIMIT_BYTES } from '../../src/http/body-limit.ts';
import { silentLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { createScratchDatabase } from '../support/admin.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

async function scratchServer(): Promise<RunningServer> {
  const scratch = await createScratchDatabase('meshmon_bodies');
  cleanups.push(scratch.drop);
  const s = await startServer(
    configFrom({ HOST: '127.0.0.1', PORT: '0', ENGINE_ENABLED: 'false', LOG_LEVEL: 'silent', DATABASE_URL: scratch.url, TIMESCALEDB: 'off' }),
    silentLogger,
  );
  cleanups.push(() => s.shutdown('test'));
  return s;
}

interface Exchange {
  /** Everything the server sent. */
  received: string;
  /** Body bytes the client managed to write. */
  written: number;
  /** The client's write or read error (a reset), if any. */
  error: string | null;
  /** The server closed the connection. */
  closed: boolean;
}

/**
 * Sends `head`, then writes `bodyBytes` of body (as fast as the server takes
 * it) and optionally a second request on the same connection; collects the
 * answers until the server closes or goes quiet.
 */
function exchange(port: number, head: string, bodyBytes: number, opts: { chunked?: boolean; then?: string } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const r: Exchange = { received: '', written: 0, error: null, closed: false };
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const finish = () => { clearTimeout(quiet); socket.destroy(); resolve(r); };
    const idle = () => { clearTimeout(quiet); quiet = setTimeout(finish, 1_500); };
    socket.on('data', (d) => { r.received += d.toString('latin1'); idle(); });
    socket.on('error', (e) => { r.error = e.message; });
    socket.on('close', () => { r.closed = true; finish(); });
    socket.on('connect', async () => {
      socket.write(head);
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      while (r.written < bodyBytes && !r.error && !r.closed) {
        const n = Math.min(chunk.length, bodyBytes - r.written);
        const piece = opts.chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), chunk.subarray(0, n), Buffer.from('\r\n')]) : chunk.subarray(0, n);
        const ok = socket.write(piece);
        r.written += n;
        if (!ok) await new Promise<void>((res) => { const t = setTimeout(res, 2_000); socket.once('drain', () => { clearTimeout(t); res(); }); });
      }
      if (opts.chunked && !r.error && !r.closed) socket.write('0\r\n\r\n');
      if (opts.then && !r.error && !r.closed) socket.write(opts.then);
      idle();
    });
  });
}

function responses(raw: string): Array<{ status: number; headers: Record<string, string>; body: string }> {
  const out = [];
  let rest = raw;
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const len = Number(headers['content-length'] ?? 0);
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + len) });
    rest = rest.slice(end + 4 + len);
  }
  return out;
}

const expectProblem413 = (res: { status: number; headers: Record<string, string>; body: string } | undefined, limitText = 'MAX_BODY_BYTES') => {
  expect(res?.status).toBe(413);
  expect(res!.headers['content-type']).toBe('application/problem+json');
  const body = JSON.parse(res!.body);
  expect(body).toMatchObject({ status: 413, title: 'Content Too Large' });
  expect(body.detail).toContain(limitText);
};

describe('oversized bodies on a real server', () => {
  test('20 MiB declared to /ingest, written whole: a 413 problem, no reset, and the connection serves the next request', async () => {
    const s = await scratchServer();
    const size = 20 * 1024 * 1024;
    const r = await exchange(s.port, `POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`, size, {
      then: 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    });
    expect(r.error).toBeNull();
    expect(r.written).toBe(size);
    const [first, second] = responses(r.received);
    expectProblem413(first);
    expect(second?.status).toBe(200);
  }, 60_000);

  test(`more than ${DRAIN_LIMIT_BYTES / 2 ** 20} MiB declared: the 413 problem, then the connection closes`, async () => {
    const s = await scratchServer();
    const size = DRAIN_LIMIT_BYTES * 2;
    const r = await exchange(s.port, `POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`, size);
    const [first] = responses(r.received);
    expectProblem413(first);
    expect(first!.headers.connection).toBe('close');
    expect(r.closed).toBe(true);
    expect(r.written).toBeLessThan(size);
  }, 60_000);

  test('any route: a declared body over MAX_BODY_BYTES is a 413 problem (not the route’s answer, not a bare 413)', async () => {
    const s = await scratchServer();
    for (const path of ['/summary', '/issues/inc_a', '/nowhere']) {
      const size = 3 * 1024 * 1024;
      const r = await exchange(s.port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`, size);
      expect({ path, error: r.error }).toEqual({ path, error: null });
      expectProblem413(responses(r.received)[0]);
    }
  }, 60_000);

  test('a chunked body (no length) is counted as it comes: a 413 problem once past the limit, then the connection closes', async () => {
    const s = await scratchServer();
    for (const path of ['/ingest', '/summary']) {
      const r = await exchange(s.port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, 40 * 1024 * 1024, { chunked: true });
      const [first] = responses(r.received);
      expectProblem413(first);
      expect(first!.headers.connection).toBe('close');
      expect(r.closed).toBe(true);
    }
    // A small chunked body still reaches its route.
    const ok = await fetch(`${s.url}/ingest`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('[]')); c.close(); } }),
      duplex: 'half',
    } as RequestInit);
    expect(ok.status).not.toBe(413);
  }, 60_000);

  test('malformed request lines are refused by Bun’s parser (bare 400/505, connection closed) and the server keeps serving', async () => {
    // Bun answers these before any JavaScript runs and has no hook for them,
    // so no problem body is possible (docs/operations.md, failure modes).
    const s = await scratchServer();
    for (const raw of ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /\r\n\r\n', '\x00\x01\x02\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n']) {
      const r = await exchange(s.port, raw, 0);
      const [first] = responses(r.received);
      expect({ raw, refused: first?.status === 400 || first?.status === 505, connection: first?.headers.connection }).toEqual({ raw, refused: true, connection: 'close' });
    }
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  }, 60_000);
});
