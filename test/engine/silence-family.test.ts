// Meshes of the "many nodes silent at once" family that are not in
// shared/scenarios: made by test/engine/support/silence-mesh.ts (other
// sizes, seeds, fault orders, a site on several links, a gateway whose name
// holds "--", the field agents' network_status), replayed like a recording
// and judged like one.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { runTick, type Carry } from '../../src/engine/engine.ts';
import { replayFileWithStats } from '../../src/engine/replay.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { scopeKey } from '../../src/incidents/incident.schema.ts';
import { silentLogger } from '../../src/log.ts';
import { createTestDatabase, describeEachMode } from '../support/databases.ts';
import { formatVerdict, judge } from '../support/scenario-judge.ts';
import { incidents, ingest, type Msg } from './support/mesh.ts';
import { meshRecording, type MeshSpec } from './support/silence-mesh.ts';

const MESHES: Record<string, MeshSpec> = {
  // partition on a link (its gateway named with "--"), a lone agent, a site on three links, an outage
  'mesh15-link-dashed': {
    seed: 5, core: 11, extraLinks: 5, minutes: 200,
    sites: [{ size: 3, uplinks: 1, dashedName: true }, { size: 2, uplinks: 3 }],
    faults: [
      { kind: 'partition', atMin: 25, minutes: 18, site: 0 },
      { kind: 'silent', atMin: 70, minutes: 17 },
      { kind: 'partition', atMin: 110, minutes: 20, site: 1 },
      { kind: 'outage', atMin: 160, minutes: 14 },
    ],
  },
  // routers without an agent: a site hangs on one of them (still up: probes through it come back)
  'mesh16-agentless-routers': {
    seed: 77, core: 12, extraLinks: 5, agentless: 2, minutes: 120,
    sites: [{ size: 3, uplinks: 1, viaAgentless: true }, { size: 2, uplinks: 2 }],
    faults: [
      { kind: 'partition', atMin: 20, minutes: 18, site: 0 },
      { kind: 'partition', atMin: 70, minutes: 15, site: 1 },
    ],
  },
  // the upstream agent's network_status; a lost probe still shows its hops with ordinary-looking values
  'mesh14-field-stale-hops': {
    seed: 54, core: 10, extraLinks: 4, minutes: 150, style: 'field', lostHops: 'stale',
    sites: [{ size: 3, uplinks: 1 }, { size: 2, uplinks: 2, dashedName: true }],
    faults: [
      { kind: 'partition', atMin: 20, minutes: 20, site: 1 },
      { kind: 'partition', atMin: 70, minutes: 15, site: 0 },
      { kind: 'silent', atMin: 110, minutes: 15 },
    ],
  },
  // an outage first, then one node behind a link (its own silence), then a site on two links
  'mesh13-outage-first': {
    seed: 31, core: 10, extraLinks: 4, minutes: 170,
    sites: [{ size: 1, uplinks: 1 }, { size: 3, uplinks: 2 }],
    faults: [
      { kind: 'outage', atMin: 30, minutes: 16 },
      { kind: 'partition', atMin: 80, minutes: 15, site: 0 },
      { kind: 'partition', atMin: 120, minutes: 20, site: 1 },
    ],
  },
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-silence-family-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function recordingFile(name: string) {
  const rec = meshRecording(MESHES[name]!);
  const file = path.join(dir, `${name}.ndjson`);
  await writeFile(file, rec.messages.map((m) => JSON.stringify(m)).join('\n') + '\n');
  return { rec, file };
}

describeEachMode(
  'silence family',
  (get, mode) => {
    for (const name of Object.keys(MESHES)) {
      test(`${name} replays to its expected incidents`, async () => {
        const { rec, file } = await recordingFile(name);
        const tdb = await createTestDatabase(mode);
        let replayed;
        try {
          replayed = await replayFileWithStats(file, { rules: DEFAULT_RULES, tickSeconds: 10, db: tdb.db, log: silentLogger });
        } finally {
          await tdb.close();
        }
        const verdict = judge(replayed.incidents, rec.expected);
        console.log(formatVerdict(`${name} [${mode}]`, verdict));
        expect(verdict.problems).toEqual([]);
        expect(verdict.faults.every((f) => f.found)).toBe(true);
      }, 600_000);
    }

    test('a partition handed on by the carry is what reading the incidents back gives', async () => {
      const { db } = get();
      await get().truncate();
      const { rec } = await recordingFile('mesh15-link-dashed');
      const t0 = Date.parse('2026-03-02T06:00:00Z');
      // 06:10–06:55: the first partition opens and closes
      const from = t0 + 10 * 60_000;
      const to = t0 + 55 * 60_000;
      const msgs = rec.messages.filter((m) => Date.parse(m.sent_at) <= to) as Msg[];
      for (let i = 0; i < msgs.length; i += 2000) await ingest(db, msgs.slice(i, i + 2000), new Date(to));
      // received when sent: the silence is in the arrivals
      await sql`UPDATE path_probe SET received_at = sent_at`.execute(db);
      await sql`UPDATE agent_health SET received_at = sent_at`.execute(db);
      await sql`UPDATE nodes SET last_received_at = last_seen`.execute(db);
      let carry: Carry | null = null;
      for (let t = from; t <= to; t += 20_000) carry = (await db.transaction().execute((trx) => runTick(trx, new Date(t), DEFAULT_RULES, { carry }))).carry;
      const carried = await incidents(db);
      const roots = carried.filter((i) => !i.parent_id).map((i) => `${i.kind} ${scopeKey(i.scope)}`);
      expect(roots).toEqual([`partition ${scopeKey(rec.expected[0]!.scope)}`]);
      await sql`TRUNCATE incidents CASCADE`.execute(db);
      for (let t = from; t <= to; t += 20_000) await db.transaction().execute((trx) => runTick(trx, new Date(t), DEFAULT_RULES));
      expect(await incidents(db)).toEqual(carried);
    }, 600_000);
  },
  ['none', 'apache'],
);
