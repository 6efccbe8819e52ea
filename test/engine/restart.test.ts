// Restarting the collector mid-scenario must leave the same incidents as an
// uninterrupted run: everything the engine needs between ticks is in the
// database. The uninterrupted replay carries its incidents from tick to tick
// in memory; each half of the interrupted run is its own process (a new
// pool, nothing carried), so its first tick reads them back from the
// database. The cut is inside mesh16-core's bottleneck fault, with incidents
// open and children attached.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import path from 'node:path';
import { replayFile } from '../../src/engine/replay.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { scopeKey, type Incident } from '../../src/incidents/incident.schema.ts';
import { silentLogger } from '../../src/log.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { scenarioPath } from '../support/fixtures.ts';

const PART = path.resolve(import.meta.dir, '../support/replay-part.ts');
const BUN = process.execPath;
const SCENARIO = scenarioPath('mesh16-core');
const CUT = '2026-03-02T08:45:00Z';

async function part(url: string, after: string, until: string): Promise<Incident[]> {
  const proc = Bun.spawn([BUN, PART, SCENARIO, url, after, until], { stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`replay part (${after}, ${until}] failed with ${code}: ${err}`);
  return JSON.parse(out) as Incident[];
}

/** Ids differ between runs; an incident is its kind, scope and start, and its parent is named the same way. */
function normalise(incidents: Incident[]) {
  const key = (i: Incident) => `${i.kind} ${scopeKey(i.scope)} ${i.started_at}`;
  const byId = new Map(incidents.map((i) => [i.id, i]));
  return incidents
    .map((i) => ({
      key: key(i),
      ended_at: i.ended_at,
      status: i.status,
      severity: i.severity,
      detected_at: i.detected_at,
      parent: i.parent_id ? key(byId.get(i.parent_id)!) : null,
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

describe('restart mid-scenario', () => {
  let whole: TestDatabase;
  let halves: TestDatabase;
  beforeAll(async () => {
    [whole, halves] = await Promise.all([createTestDatabase('none'), createTestDatabase('none')]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([whole?.close(), halves?.close()]);
  });

  test('mesh16-core cut at 08:45 gives the same incidents as an uninterrupted run', async () => {
    // The two runs are independent: side by side, on two cores.
    const [uninterrupted, [before, after]] = await Promise.all([
      replayFile(SCENARIO, { rules: DEFAULT_RULES, tickSeconds: 10, db: whole.db, log: silentLogger }),
      (async () => {
        const first = await part(halves.url!, '-', CUT);
        return [first, await part(halves.url!, CUT, '-')] as const;
      })(),
    ]);
    const open = before.filter((i) => i.ended_at === null);

    expect(normalise(after)).toEqual(normalise(uninterrupted));
    // The cut is a real one: the first lifetime left work in progress.
    expect(before.length).toBeGreaterThan(0);
    expect(open.length).toBeGreaterThan(0);
  }, 900_000);
});
