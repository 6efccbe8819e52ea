// Loaded by bun test before any test file (bunfig.toml). When no PostgreSQL
// answers on 127.0.0.1:5432 and none is named, start an embedded one so the
// suite runs on a machine with only Node.js and npm (apache mode is then
// skipped, unless required).
import net from 'node:net';
import { afterAll } from 'bun:test';

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

process.env.TZ = 'UTC';

// MESHMON_TEST_EMBEDDED=1 takes this path even when a server answers, to
// check the "only Node.js and npm" case on a machine that has PostgreSQL.
const forceEmbedded = process.env.MESHMON_TEST_EMBEDDED === '1';
if (forceEmbedded || (!process.env.MESHMON_TEST_ADMIN_URL && !(await reachable('127.0.0.1', 5432)))) {
  const { startEmbedded } = await import('../../src/db/embedded.ts');
  const { silentLogger } = await import('../../src/log.ts');
  const { findFreePort } = await import('./free-port.ts');
  const { tempDataDir } = await import('./temp-dir.ts');
  // A directory per run: two test runs at once must not share a server.
  const data = await tempDataDir('meshmon-test-embedded');
  const server = await startEmbedded({ dataDir: data.dir, port: await findFreePort(), log: silentLogger });
  const u = new URL(server.url);
  u.pathname = '/postgres';
  process.env.MESHMON_TEST_ADMIN_URL = u.toString();
  process.stderr.write(`[test] ${forceEmbedded ? 'MESHMON_TEST_EMBEDDED=1' : 'no PostgreSQL on 127.0.0.1:5432'}; using an embedded one in ${server.dataDir}\n`);
  afterAll(async () => {
    await server.stop();
    await data.remove();
  });
}

// Which modes this machine can provide, decided once so describe blocks can be
// skipped synchronously (describeEachMode).
{
  const { hasApacheTimescale } = await import('./databases.ts');
  const modes = ['timescale', 'none'];
  const apache = await hasApacheTimescale();
  if (apache) modes.push('apache');
  process.env.MESHMON_TEST_AVAILABLE_MODES = modes.join(',');
  const required = (process.env.MESHMON_TEST_REQUIRE_MODES ?? '').split(',').filter(Boolean);
  const missing = required.filter((m) => !modes.includes(m));
  if (missing.length) {
    throw new Error(`database modes required but not available: ${missing.join(', ')} (run bash .ci/install-timescaledb.sh)`);
  }
  // Once per run, so a count of skipped tests never goes unexplained.
  const selected = process.env.MESHMON_TEST_MODES?.split(',').map((m) => m.trim()).filter(Boolean) ?? null;
  const ran: string[] = [];
  const skipped: string[] = [];
  for (const mode of ['timescale', 'apache', 'none']) {
    if (selected && !selected.includes(mode)) skipped.push(`${mode} (not in MESHMON_TEST_MODES=${process.env.MESHMON_TEST_MODES})`);
    else if (!modes.includes(mode)) skipped.push(`${mode} (the PostgreSQL on ${process.env.MESHMON_TEST_ADMIN_URL ? 'the test server' : '127.0.0.1:5432'} has no preloaded TimescaleDB: bash .ci/install-timescaledb.sh, or MESHMON_TEST_REQUIRE_MODES=apache to make this a failure)`);
    else ran.push(mode);
  }
  process.stderr.write(`[test] database modes: ${ran.join(', ')} run${skipped.length ? `; skipped: ${skipped.join('; ')} — their tests count as skipped` : ''}\n`);
}
