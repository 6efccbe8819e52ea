// The engine end to end on a real database, in every mode: hand-made agent
// traffic ingested like POST /ingest, runTick stepped through fixed instants.
import { beforeEach, expect, test } from 'bun:test';
import { sql } from 'kysely';
import { runTick, type Carry } from '../../src/engine/engine.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { scopeKey } from '../../src/incidents/incident.schema.ts';
import { registry } from '../../src/api/registry.service.ts';
import { describeEachMode } from '../support/databases.ts';
import { background, drive, events, every, health, incidents, ingest, min, overlay, probe, type Msg } from './support/mesh.ts';

/** Minutes of simulated traffic per test; PGlite (timescale mode) is the slow one. */
const SLOW = 180_000;

const ROUTES = [
  ['N1', 'N2', 'N3'],
  ['N2', 'N1'],
  ['N3', 'N2'],
];

describeEachMode('engine', (get) => {
  beforeEach(async () => {
    await get().truncate();
  }, SLOW);

  test('jitter burst: opened from its first bad window, closed after 15 min of clear data at its first clear window', async () => {
    const { db } = get();
    const bad = new Set([...every(10, 13)].map((t) => t.getTime()));
    const msgs = background(ROUTES, 0, 40).filter((m) => !(m.src === 'N1' && bad.has(Date.parse(m.sent_at))));
    for (const t of every(10, 13)) msgs.push(...probe('N1', 'N3', t, { route: ['N1', 'N2', 'N3'], jitter: 50 }));
    await drive(db, msgs, { fromMin: 0, toMin: 40 });

    const all = await incidents(db);
    expect(all).toHaveLength(1);
    const i = all[0]!;
    expect(i).toMatchObject({
      kind: 'jitter_burst', scope: { type: 'route', src: 'N1', dst: 'N3' }, status: 'closed', severity: 'major', parent_id: null,
      started_at: min(10).toISOString(),
      // the third bad window is at 10:00 + 2 × 40 s; the tick at that instant sees it
      detected_at: min(10 + 80 / 60).toISOString(),
      // windows every 40 s: the first one at or after 13:00 is 13:20
      ended_at: min(13 + 20 / 60).toISOString(),
    });
    expect(i.impact).toMatchObject({ routes_affected: 1, routes: ['N1>N3'], nodes: ['N1', 'N2', 'N3'] });
    expect(i.evidence).toMatchObject({
      thresholds: { jitter_ms: 30, consecutive: 3 },
      peaks: { jitter_ms: 50 },
      hop_lists: [['N1', 'N2', 'N3']],
      pattern: 'burst',
      closed_by: 'clear',
    });
    expect((i.evidence.windows as unknown[]).length).toBe(5);
    expect(i.cause.length).toBeGreaterThan(10);
    expect(i.next_steps.length).toBeGreaterThanOrEqual(2);
    const row = await db.selectFrom('incidents').select(['nodes', 'links', 'routes']).executeTakeFirstOrThrow();
    expect(row).toEqual({ nodes: ['N1', 'N2', 'N3'], links: [{ a: 'N1', b: 'N2' }, { a: 'N2', b: 'N3' }], routes: [{ src: 'N1', dst: 'N3' }] });
    expect((await events(db, i.id)).map((e) => e.event)).toEqual(['opened', 'clearing', 'closed']);
  }, SLOW);

  test('a tick is a function of the data and now: repeating it changes nothing', async () => {
    const { db } = get();
    const msgs = overlay(background(ROUTES, 0, 12), [...every(6, 12)].flatMap((t) => probe('N2', 'N1', t, { jitter: 80, loss: 25 })));
    await drive(db, msgs, { fromMin: 0, toMin: 12 });
    const before = await db.selectFrom('incidents').selectAll().orderBy('id').execute();
    const eventsBefore = await db.selectFrom('incident_events').select(({ fn }) => fn.countAll().as('n')).executeTakeFirstOrThrow();
    expect(before.map((r) => r.kind).sort()).toEqual(['jitter_burst', 'loss_spike']);
    expect(before.every((r) => r.severity === 'critical')).toBe(true);

    const again = await db.transaction().execute((trx) => runTick(trx, min(12), DEFAULT_RULES));
    expect(again).toMatchObject({ opened: [], updated: [], closed: [] });
    expect(again.rules.every((r) => r.health === 'ok')).toBe(true);
    expect(await db.selectFrom('incidents').selectAll().orderBy('id').execute()).toEqual(before);
    expect(await db.selectFrom('incident_events').select(({ fn }) => fn.countAll().as('n')).executeTakeFirstOrThrow()).toEqual(eventsBefore);
  }, SLOW);

  test('rows stamped after now (a fast agent clock within the skew limit) are not seen until now reaches them', async () => {
    const { db } = get();
    // the last two windows before 10:00 (every 40 s from 0:00) and one 100 s in the collector's future
    const bad: Msg[] = [min(8 + 2 / 3), min(9 + 1 / 3), min(10 + 100 / 60)].flatMap((t) => probe('N3', 'N2', t, { jitter: 45 }));
    await ingest(db, overlay(background(ROUTES, 0, 10), bad), min(10));
    const at10 = await db.transaction().execute((trx) => runTick(trx, min(10), DEFAULT_RULES));
    expect(at10.opened).toEqual([]);
    const later = await db.transaction().execute((trx) => runTick(trx, min(12), DEFAULT_RULES));
    expect(later.opened).toHaveLength(1);
    expect((await incidents(db))[0]).toMatchObject({ kind: 'jitter_burst', started_at: min(8 + 2 / 3).toISOString(), detected_at: min(12).toISOString() });
  }, SLOW);

  /** Two routes' background with a jitter burst on N2>N1, then one tick with `table` renamed away (a rule that reads it fails). */
  async function tickWithout(table: string, at: Date) {
    const { db } = get();
    const msgs = overlay(background(ROUTES, 0, 8), [...every(4, 8)].flatMap((t) => probe('N2', 'N1', t, { jitter: 45 })));
    await ingest(db, msgs, min(8));
    await sql`ALTER TABLE ${sql.id(table)} RENAME TO ${sql.id(`${table}_away`)}`.execute(db);
    try {
      return await db.transaction().execute((trx) => runTick(trx, at, DEFAULT_RULES));
    } finally {
      await sql`ALTER TABLE ${sql.id(`${table}_away`)} RENAME TO ${sql.id(table)}`.execute(db);
    }
  }

  test('a failing rule records its error and leaves the others running', async () => {
    // agent_silent reads crash_report for a node quiet for 5 min
    const r = await tickWithout('crash_report', min(14));
    const silent = r.rules.find((x) => x.rule === 'agent_silent')!;
    expect(silent.health).toBe('error');
    expect(silent.error).toContain('crash_report');
    // partition shares agent_silent's reads, so it cannot judge either
    expect(r.rules.find((x) => x.rule === 'partition')).toMatchObject({ health: 'error' });
    expect(r.rules.filter((x) => !['agent_silent', 'partition'].includes(x.rule)).every((x) => x.health === 'ok')).toBe(true);
    expect(r.opened).toHaveLength(1);
    expect((await incidents(get().db)).map((i) => i.kind)).toEqual(['jitter_burst']);
  }, SLOW);

  test('a rule failing before others (one savepoint for all) leaves the later rules running and writing', async () => {
    // node_overload, the first rule, reads agent_health; the route rules do not
    const r = await tickWithout('agent_health', min(9));
    expect(r.rules.find((x) => x.rule === 'node_overload')).toMatchObject({ health: 'error' });
    expect(r.rules.filter((x) => ['rf_drop', 'jitter_burst', 'loss_spike', 'route_flap'].includes(x.rule)).every((x) => x.health === 'ok')).toBe(true);
    expect(r.opened).toHaveLength(1);
    expect((await incidents(get().db)).map((i) => i.kind)).toEqual(['jitter_burst']);
  }, SLOW);

  test('a tick handed the previous tick\'s carry writes what a tick reading the database writes', async () => {
    const { db } = get();
    const msgs = overlay(background(ROUTES, 0, 30), [...every(4, 12)].flatMap((t) => probe('N2', 'N1', t, { jitter: 45 })));
    await ingest(db, msgs, min(30));
    let carry: Carry | null = null;
    for (let m = 8; m <= 30; m++) carry = (await db.transaction().execute((trx) => runTick(trx, min(m), DEFAULT_RULES, { carry }))).carry;
    const carried = await incidents(db);
    expect(carried.map((i) => i.kind)).toEqual(['jitter_burst']);
    await sql`TRUNCATE incidents CASCADE`.execute(db);
    for (let m = 8; m <= 30; m++) await db.transaction().execute((trx) => runTick(trx, min(m), DEFAULT_RULES));
    expect(await incidents(db)).toEqual(carried);
  }, SLOW);

  test('bottleneck: one root for a congested link, the route incidents crossing it are its children (a node name holding "--")', async () => {
    const { db } = get();
    // X ↔ Y--Z is the shared middle hop of two routes (once keyed "X--Y--Z": three names?); a third route avoids it
    const routes = [['A', 'X', 'Y--Z', 'B'], ['C', 'X', 'Y--Z', 'D'], ['E', 'X', 'F'], ['X', 'A'], ['Y--Z', 'B']];
    const fault = (m: Msg) => ['A', 'C'].includes(m.src as string) && Date.parse(m.sent_at) >= min(10).getTime() && Date.parse(m.sent_at) < min(20).getTime();
    const msgs = background(routes, 0, 45).filter((m) => !fault(m));
    for (const t of every(10, 20)) {
      msgs.push(...probe('A', 'B', t, { route: ['A', 'X', 'Y--Z', 'B'], jitter: 55, loss: 4, etx: [1.1, 1.9, 1.1], lq: [0.95, 0.75, 0.95] }));
      msgs.push(...probe('C', 'D', t, { route: ['C', 'X', 'Y--Z', 'D'], jitter: 45, loss: 3, etx: [1.2, 1.8, 1.1], lq: [0.95, 0.76, 0.95] }));
    }
    await drive(db, msgs, { fromMin: 0, toMin: 45 });

    const all = await incidents(db);
    const roots = all.filter((i) => !i.parent_id);
    expect(roots).toHaveLength(1);
    const root = roots[0]!;
    expect(root).toMatchObject({ kind: 'bottleneck', scope: { type: 'link', a: 'X', b: 'Y--Z' }, status: 'closed', started_at: min(10).toISOString() });
    expect(root.impact).toMatchObject({ routes_affected: 2, routes: ['A>B', 'C>D'] });
    const children = all.filter((i) => i.parent_id === root.id);
    expect(children.map((c) => `${c.kind} ${c.scope.type === 'route' ? c.scope.src : ''}`).sort()).toEqual([
      'jitter_burst A', 'jitter_burst C', 'loss_spike A', 'loss_spike C',
    ]);
    for (const c of children) expect(c.cause).toContain('X ↔ Y--Z on this route');
    const row = await db.selectFrom('incidents').select(['links', 'scope_key']).where('id', '=', root.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ links: [{ a: 'X', b: 'Y--Z' }], scope_key: 'link:X,Y--Z' });
    // the children opened first (3 and 2 windows); the bottleneck needed 5: re-parented
    const reparented = await Promise.all(children.map(async (c) => (await events(db, c.id)).some((e) => e.event === 'reparented')));
    expect(reparented.some(Boolean)).toBe(true);
  }, SLOW);

  test('node_overload: bad windows from a CPU-bound node are its children, and no bottleneck', async () => {
    const { db } = get();
    const routes = [['B', 'X', 'C'], ['B', 'D'], ['A', 'B', 'X', 'C'], ['X', 'C']];
    const inFault = (t: number) => t >= min(10).getTime() && t < min(20).getTime();
    const msgs = background(routes, 0, 40).filter((m) => !(inFault(Date.parse(m.sent_at)) && ['A', 'B'].includes(m.src as string) && m.type !== 'agent_health'));
    for (const t of every(10, 20)) {
      msgs.push(...probe('B', 'C', t, { route: ['B', 'X', 'C'], jitter: 45, etx: [1.3, 1.1] }));
      msgs.push(...probe('B', 'D', t, { jitter: 40, etx: [1.3] }));
      msgs.push(...probe('A', 'C', t, { route: ['A', 'B', 'X', 'C'], jitter: 38, etx: [1.1, 1.3, 1.1] }));
    }
    for (const t of every(10, 20, 60)) msgs.push(health('B', new Date(t.getTime() + 5000), 95));
    await drive(db, msgs, { fromMin: 0, toMin: 40 });

    const all = await incidents(db);
    const roots = all.filter((i) => !i.parent_id);
    expect(roots.map((r) => `${r.kind} ${scopeKey(r.scope)}`)).toEqual(['node_overload node:B']);
    const root = roots[0]!;
    expect(root.status).toBe('closed');
    expect(Date.parse(root.started_at)).toBeLessThanOrEqual(min(10).getTime() + 5000);
    expect(all.filter((i) => i.parent_id === root.id).map((c) => c.kind).sort()).toEqual(['jitter_burst', 'jitter_burst', 'jitter_burst']);
  }, SLOW);

  test('rf_drop: a link whose LQ falls under 0.70 with ETX rising over its hour baseline (a node name holding "--")', async () => {
    const { db } = get();
    const routes = [['P--1', 'Q'], ['Q', 'P--1'], ['R', 'P--1', 'Q']];
    const inFault = (t: number) => t >= min(70).getTime() && t < min(85).getTime();
    const msgs = background(routes, 0, 110).filter((m) => !inFault(Date.parse(m.sent_at)) || m.type === 'agent_health');
    for (const t of every(70, 85)) {
      msgs.push(...probe('P--1', 'Q', t, { etx: [4.2], lq: [0.48] }));
      msgs.push(...probe('Q', 'P--1', t, { etx: [4.0], lq: [0.5] }));
      msgs.push(...probe('R', 'Q', t, { route: ['R', 'P--1', 'Q'], etx: [1.1, 4.1], lq: [0.95, 0.49] }));
    }
    await drive(db, msgs, { fromMin: 0, toMin: 110, tickS: 60 });
    const all = await incidents(db);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ kind: 'rf_drop', scope: { type: 'link', a: 'P--1', b: 'Q' }, severity: 'critical', status: 'closed', started_at: min(70).toISOString() });
    expect(all[0]!.impact.routes).toEqual(['P--1>Q', 'Q>P--1', 'R>Q']);
    expect(all[0]!.title).toBe('RF drop on link P--1 ↔ Q');
    expect(Date.parse(all[0]!.ended_at!)).toBeGreaterThan(min(85).getTime());
    expect(Date.parse(all[0]!.ended_at!)).toBeLessThan(min(95).getTime());
  }, SLOW);

  test('route_flap: three hop lists within 5 min', async () => {
    const { db } = get();
    const msgs = background([['S', 'M', 'T'], ['M', 'S']], 0, 35).filter((m) => !(m.src === 'S' && Date.parse(m.sent_at) >= min(8).getTime() && Date.parse(m.sent_at) < min(12).getTime()));
    const paths = [['S', 'M', 'T'], ['S', 'U', 'T'], ['S', 'T']];
    [...every(8, 12)].forEach((t, i) => msgs.push(...probe('S', 'T', t, { route: paths[i % 3] })));
    await drive(db, msgs, { fromMin: 0, toMin: 35 });
    const all = await incidents(db);
    expect(all).toHaveLength(1);
    // the first change of hop list (8:00 still had the usual path)
    expect(all[0]).toMatchObject({ kind: 'route_flap', scope: { type: 'route', src: 'S', dst: 'T' }, severity: 'minor', started_at: min(8 + 2 / 3).toISOString() });
    // 11:20 is the last odd path: the last 5 min hold two hop lists from 16:00, closed 15 min later
    expect(all[0]).toMatchObject({ status: 'closed', ended_at: min(16).toISOString() });
    expect(all[0]!.evidence.hop_lists).toHaveLength(3);
  }, SLOW);

  test('agent_silent: one node stops; then every node at once is one incident for "*"', async () => {
    const { db } = get();
    const routes = [['K1', 'K2'], ['K2', 'K3'], ['K3', 'K1']];
    // K2 stops from minute 10 to 25; everyone stops from minute 50 to 70
    const off = (src: string, t: Date) => (src === 'K2' && t >= min(10) && t < min(25)) || (t >= min(50) && t < min(70));
    await drive(db, background(routes, 0, 95, off), { fromMin: 0, toMin: 95, tickS: 60 });
    const all = await incidents(db);
    expect(all.map((i) => `${i.kind} ${scopeKey(i.scope)} ${i.status}`)).toEqual(['agent_silent node:K2 closed', 'agent_silent node:* closed']);
    const [k2, star] = all as [typeof all[0], typeof all[0]];
    // silence is measured on arrivals: here a tick (received_at) every minute
    expect(Date.parse(k2.started_at)).toBeGreaterThanOrEqual(min(10).getTime());
    expect(Date.parse(k2.started_at)).toBeLessThanOrEqual(min(11).getTime());
    // detected once silent for more than 5 min (its usual interval is 40 s)
    expect(Date.parse(k2.detected_at) - Date.parse(k2.started_at)).toBeLessThanOrEqual(6 * 60_000);
    // its first window after the silence is at 25:20, received at the 26:00 tick
    expect(k2.ended_at).toBe(min(26).toISOString());
    expect(Date.parse(star.started_at)).toBeGreaterThan(min(49).getTime());
    expect(star.ended_at).toBe(min(70).toISOString());
    expect(star.cause).toContain('collector');
  }, SLOW);

  test('gone for good: a node silent for 7 days is retired, nothing opens for it, and it is reporting once it is back', async () => {
    const { db } = get();
    // K1, K2 report every hour; KX6--GONE reports for 10 min, then 7 days of nothing, then again
    const hourly = (node: string, fromMin: number, toMin: number) => [...every(fromMin, toMin, 3600)].map((t) => health(node, t));
    const days = 7 * 24 * 60;
    const msgs = [...hourly('K1', 0, days + 300), ...hourly('K2', 0, days + 300), ...[...every(0, 10, 60)].map((t) => health('KX6--GONE', t)), health('KX6--GONE', min(days + 180))];
    await drive(db, msgs, { fromMin: 0, toMin: days + 120, tickS: 3600 });
    const gone = (await incidents(db)).filter((i) => i.scope.type === 'node' && i.scope.node === 'KX6--GONE');
    expect(gone).toHaveLength(1);
    // its last report was received at the 07:00 tick: retired 7 days after that, whatever the tick
    expect(gone[0]).toMatchObject({ status: 'closed', ended_at: min(60 + days).toISOString(), evidence: { closed_by: 'retired' } });
    expect((await events(db, gone[0]!.id)).map((e) => e.event).at(-1)).toBe('closed');
    const reg = await registry(db, { status: 'all', limit: 1000 }, { now: min(days + 120), silentAfterS: 900 });
    expect(reg.nodes.find((n) => n.node === 'KX6--GONE')).toMatchObject({ status: 'retired', retired_at: min(60 + days).toISOString() });
    expect(reg.counts).toMatchObject({ total: 3, retired: 1 });

    await drive(db, msgs, { fromMin: days + 180, toMin: days + 190, tickS: 300 });
    expect((await incidents(db)).filter((i) => i.scope.type === 'node' && i.scope.node === 'KX6--GONE')).toHaveLength(1);
    const back = await registry(db, { status: 'all', limit: 1000 }, { now: min(days + 190), silentAfterS: 900 });
    expect(back.nodes.find((n) => n.node === 'KX6--GONE')).toMatchObject({ status: 'reporting', retired_at: null });
  }, SLOW);
});
