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
  if (await hasApacheTimescale()) modes.push('apache');
  process.env.MESHMON_TEST_AVAILABLE_MODES = modes.join(',');
  const required = (process.env.MESHMON_TEST_REQUIRE_MODES ?? '').split(',').filter(Boolean);
  const missing = required.filter((m) => !modes.includes(m));
  if (missing.length) {
    throw new Error(`database modes required but not available: ${missing.join(', ')} (run bash .ci/install-timescaledb.sh)`);
  }
}
