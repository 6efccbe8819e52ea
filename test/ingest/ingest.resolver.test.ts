import { afterAll, beforeAll, expect, test } from 'bun:test';
import { sql } from 'kysely';
import { MeshAddresses, reverseLookup, type ReverseLookup } from '../../src/ingest/addresses.service.ts';
import { silentLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';
import { findFreePort } from '../support/free-port.ts';
import { agentHealth, freshTables } from './helpers.ts';

// Reverse DNS for mesh addresses, against a real DNS server on loopback:
// Debian's dnsmasq with the PTR records an AREDN node would answer
// (NAME.local.mesh, and dtdlink.NAME.local.mesh for a node's DtD address).

const DNSMASQ = '/usr/sbin/dnsmasq';
const RECV = '2026-12-06T19:16:00Z';

let dns: Bun.Subprocess | null = null;
let server = '';
let lookup: ReverseLookup;

beforeAll(async () => {
  const port = await findFreePort();
  server = `127.0.0.1:${port}`;
  dns = Bun.spawn([
    DNSMASQ, '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces',
    '--listen-address=127.0.0.1', `--port=${port}`, '--pid-file=', '--log-facility=-',
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    '--host-record=KX6N01-NODE-1.local.mesh,10.54.13.1',
    '--host-record=dtdlink.KX6N02-NODE-2.local.mesh,10.54.13.2',
    '--host-record=printer.example.org,10.54.13.3',
  ], { stdout: 'ignore', stderr: 'pipe' });
  lookup = reverseLookup(server)!;
  // Up once it answers (bounded).
  for (let i = 0; ; i++) {
    try {
      await lookup('10.54.13.1');
      break;
    } catch (err) {
      if (i >= 50 || dns.exitCode !== null) throw new Error(`dnsmasq did not come up: ${(err as Error).message}`);
      await Bun.sleep(100);
    }
  }
});

afterAll(async () => {
  if (dns && dns.exitCode === null) {
    dns.kill();
    await dns.exited;
  }
});

test('MESH_DNS: a server asks it, off asks nobody', async () => {
  expect(await lookup('10.54.13.1')).toEqual(['kx6n01-node-1.local.mesh']);
  expect(await lookup('10.54.13.2')).toEqual(['dtdlink.kx6n02-node-2.local.mesh']);
  await expect(lookup('10.54.13.99')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  expect(reverseLookup('off')).toBeNull();
  expect(reverseLookup('system')).toBeFunction();
});

describeEachMode('addresses named by the mesh’s reverse DNS', (get) => {
  freshTables(get);

  test('unknown hop addresses are looked up in the background, named, and their rows moved to the names', async () => {
    const metrics = createMetrics();
    const now = () => new Date(Date.parse(RECV) + 5_000);
    const addresses = new MeshAddresses({ db: get().db, log: silentLogger, metrics, now, maxNodes: 5000 }, lookup);
    let kicked = 0;
    addresses.onWork(() => kicked++);
    const t = testApp(get(), { now: RECV, addresses });
    // The node reported before under its own name, in capitals: DNS answers in lower case, the collector keeps the spelling it knows.
    expect((await t.post('/ingest', agentHealth({ node: 'KX6N01-NODE-1', sent_at: '2026-12-06T19:15:00Z' }))).status).toBe(200);
    const report = {
      schema: 'meshmon.v1', type: 'network_status', node: 'KX6ABC-RKT-7', sent_at: '2026-12-06T19:15:57Z', routing_daemon: 'olsr',
      probes: [
        // Through 10.54.13.1 (no probe names it) to a destination the probe itself names.
        { dst_node: 'KX6N05-NODE-5', dst_ip: '127.0.0.1', timestamp: '2026-12-06T19:15:57Z', rtt_ms_avg: 450, jitter_ms: 100, loss_pct: 0, hop_count: 2,
          path: [{ node: '10.54.13.1', lq: 0, nlq: 0, etx: 0 }, { node: '10.54.13.5', lq: 0, nlq: 0, etx: 2 }] },
        // Known only by address; the printer's name is not a mesh node's; nobody answers for .99.
        { dst_node: '', dst_ip: '10.54.13.2', timestamp: '2026-12-06T19:15:56Z', rtt_ms_avg: 450, jitter_ms: 100, loss_pct: 0, hop_count: 0, path: [] },
        { dst_node: '', dst_ip: '10.54.13.3', timestamp: '2026-12-06T19:15:55Z', rtt_ms_avg: 450, jitter_ms: 100, loss_pct: 0, hop_count: 0, path: [] },
        { dst_node: '', dst_ip: '10.54.13.99', timestamp: '2026-12-06T19:15:54Z', rtt_ms_avg: 450, jitter_ms: 100, loss_pct: 0, hop_count: 0, path: [] },
      ],
    };
    const r = await t.post('/ingest', report);
    expect(r.status).toBe(200);
    // The request did not wait for DNS: it handed the addresses over and asked for a run.
    expect(addresses.pending).toBe(4);
    expect(kicked).toBeGreaterThan(0);
    const db = get().db;
    expect((await db.selectFrom('hop_quality').select('to_node').where('hop_index', '=', 1).executeTakeFirstOrThrow()).to_node).toBe('10.54.13.1');

    const work = await addresses.work();
    expect(work).toMatchObject({ looked_up: 4, named: 2 });
    expect(addresses.pending).toBe(0);
    const pairs = Object.fromEntries((await db.selectFrom('node_addresses').select(['address', 'node', 'source']).execute()).map((p) => [p.address, [p.node, p.source]]));
    expect(pairs).toEqual({
      '10.54.13.1': ['KX6N01-NODE-1', 'dns'],
      '10.54.13.2': ['kx6n02-node-2', 'dns'],
      '10.54.13.5': ['KX6N05-NODE-5', 'probe'],
    });
    const names = await sql<{ n: string }>`
      SELECT dst AS n FROM path_probe UNION SELECT unnest(route) FROM path_probe UNION SELECT from_node FROM hop_quality UNION SELECT to_node FROM hop_quality`.execute(db);
    expect(names.rows.map((x) => x.n).sort()).toEqual(['10.54.13.3', '10.54.13.99', 'KX6ABC-RKT-7', 'KX6N01-NODE-1', 'KX6N05-NODE-5', 'kx6n02-node-2']);
    expect((await metrics.registry.getSingleMetricAsString('meshmon_mesh_dns_lookups_total'))).toContain('result="name"} 2');

    // Known now: the next report is named at ingest; what DNS could not name is not asked again soon.
    const next = await t.post('/ingest', { ...report, sent_at: '2026-12-06T19:16:37Z', probes: report.probes.map((p) => ({ ...p, timestamp: p.timestamp.replace('19:15:5', '19:16:3') })) });
    expect(next.status).toBe(200);
    expect(addresses.pending).toBe(0);
    expect((await db.selectFrom('path_probe').select('dst').where('sent_at', '=', new Date('2026-12-06T19:16:36Z')).executeTakeFirstOrThrow()).dst).toBe('kx6n02-node-2');
  });
});