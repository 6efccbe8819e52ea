import dns from 'node:dns';
import type { Database, Executor } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { AddressBook, isMeshAddress, nameFromPtr } from './ingest.addresses.ts';
import { KEYED_COLUMNS, knownSpelling, markRekeyed, mergeNode, pendingPairs, rekeyColumn, rekeyHopEnds, rekeyRoutes } from './addresses.repository.ts';
import { saveAddressPairs } from './ingest.repository.ts';

// The background half of naming addresses: asking the mesh's reverse DNS for
// addresses no probe has named, and moving what was recorded under an address
// to its name once it is known. DNS never runs in the ingest request's path:
// ingest hands addresses over (unknown) and reports pairs it saved (learned);
// it moves only the span its own request reaches (rekeySpan), so that the
// repeats it carries are recognised under the name.

/** How far back rows are moved to a newly learnt name. */
export const REKEY_HORIZON_MS = 24 * 3_600_000;
/** Rows moved per statement. */
export const REKEY_CHUNK = 1000;
/** Addresses waiting for DNS at most; more are asked again when seen again. */
const MAX_QUEUE = 256;
/** An address DNS could not name is asked again after this long. */
const RETRY_NONE_MS = 3_600_000;
const RETRY_ERROR_MS = 5 * 60_000;
const MAX_TRIED = 20_000;
/** DNS lookups in flight at once. */
const PARALLEL = 4;

export type ReverseLookup = (address: string) => Promise<string[]>;

/**
 * MESH_DNS: `off` → none; `system` → the host's resolver (on the mesh, an
 * AREDN node); `ADDRESS[:PORT]` → that server.
 */
export function reverseLookup(setting: string, timeoutMs = 2000): ReverseLookup | null {
  if (setting === 'off') return null;
  const r = new dns.promises.Resolver({ timeout: timeoutMs, tries: 1 });
  if (setting !== 'system') r.setServers([setting]);
  return (address) => r.reverse(address);
}

/** What ingest hands over; src/app-deps.ts carries it as `addresses`. */
export interface AddressDirectory {
  book: AddressBook;
  /** Pairs ingest just committed: the rows recorded under these addresses are moved soon. */
  learned(pairs: Array<{ address: string; node: string }>): void;
  /** Mesh addresses no pair is known for: asked of the mesh's DNS in the background. */
  unknown(addresses: string[]): void;
}

export interface AddressWorkReport {
  looked_up: number;
  named: number;
  pairs_moved: number;
  rows_moved: number;
}

/**
 * Moves every pending pair's rows from the address to the name, chunk by
 * chunk, and marks the pairs done. `step` runs each chunk (the server: its
 * own transaction each; replay: inside its tick).
 */
export async function rekeyPending(
  db: Executor, p: { now: Date; step?: <T>(fn: (db: Executor) => Promise<T>) => Promise<T> },
): Promise<{ pairs: number; rows: number }> {
  const step = p.step ?? (<T>(fn: (db: Executor) => Promise<T>) => fn(db));
  const from = new Date(p.now.getTime() - REKEY_HORIZON_MS);
  let pairsDone = 0;
  let rows = 0;
  for (;;) {
    const pairs = await step((x) => pendingPairs(x, 100));
    if (!pairs.length) break;
    const opts = { from, chunk: REKEY_CHUNK };
    for (const c of KEYED_COLUMNS) {
      for (let n = REKEY_CHUNK; n >= REKEY_CHUNK; rows += n) n = await step((x) => rekeyColumn(x, c, pairs, opts));
    }
    for (let n = REKEY_CHUNK; n >= REKEY_CHUNK; rows += n) n = await step((x) => rekeyRoutes(x, pairs, opts));
    for (let n = REKEY_CHUNK; n >= REKEY_CHUNK; rows += n) n = await step((x) => rekeyHopEnds(x, pairs, opts));
    for (const pair of pairs) await step((x) => mergeNode(x, pair));
    await step((x) => markRekeyed(x, pairs, p.now));
    pairsDone += pairs.length;
    if (pairs.length < 100) break;
  }
  return { pairs: pairsDone, rows };
}

/**
 * Moves the rows of pairs learnt by the request being stored, from `from` on,
 * inside its transaction: the repeats and retries that request carries are
 * then recognised under the name. Older rows, the registry merge and marking
 * the pairs done stay with the background job (rekeyPending).
 */
export async function rekeySpan(db: Executor, pairs: Array<{ address: string; node: string }>, from: Date): Promise<number> {
  if (!pairs.length) return 0;
  const opts = { from, chunk: REKEY_CHUNK };
  let rows = 0;
  for (const c of KEYED_COLUMNS) for (let n = REKEY_CHUNK; n >= REKEY_CHUNK; rows += n) n = await rekeyColumn(db, c, pairs, opts);
  for (let n = REKEY_CHUNK; n >= REKEY_CHUNK; rows += n) n = await rekeyRoutes(db, pairs, opts);
  for (let n = REKEY_CHUNK; n >= REKEY_CHUNK; rows += n) n = await rekeyHopEnds(db, pairs, opts);
  return rows;
}

/** This process's address work: the DNS queue, and the trigger of the job that drains it. */
export class MeshAddresses implements AddressDirectory {
  readonly book = new AddressBook();
  private readonly queue = new Set<string>();
  private readonly tried = new Map<string, number>();
  private kick: (() => void) | null = null;

  constructor(
    private readonly deps: { db: Database; log: Logger; metrics: Metrics; now: () => Date; maxNodes: number },
    private readonly lookup: ReverseLookup | null,
  ) {}

  /** The job that does the work (set by the scheduler): run soon. */
  onWork(kick: () => void): void {
    this.kick = kick;
  }

  learned(pairs: Array<{ address: string; node: string }>): void {
    this.deps.metrics.addressesLearned.inc({ source: 'probe' }, pairs.length);
    this.kick?.();
  }

  unknown(addresses: string[]): void {
    if (!this.lookup) return;
    const now = this.deps.now().getTime();
    let added = false;
    for (const a of addresses) {
      if (this.queue.size >= MAX_QUEUE) break;
      if (!isMeshAddress(a) || this.queue.has(a) || (this.tried.get(a) ?? 0) > now) continue;
      this.queue.add(a);
      added = true;
    }
    if (added) this.kick?.();
  }

  /** Addresses waiting for DNS. */
  get pending(): number {
    return this.queue.size;
  }

  /** One round: look up the queued addresses, save what DNS named, move pending pairs' rows. */
  async work(): Promise<AddressWorkReport> {
    const { db, log, metrics } = this.deps;
    const now = this.deps.now();
    const batch = [...this.queue];
    this.queue.clear();
    const found: Array<{ address: string; node: string }> = [];
    for (let i = 0; i < batch.length; i += PARALLEL) {
      await Promise.all(batch.slice(i, i + PARALLEL).map(async (address) => {
        const name = await this.ask(address, now.getTime());
        if (name) found.push({ address, node: (await knownSpelling(db, name)) ?? name });
      }));
    }
    let named = 0;
    if (found.length) {
      const saved = await db.transaction().execute((trx) => saveAddressPairs(trx, found, { now, source: 'dns', cap: this.deps.maxNodes * 4 }));
      named = saved.length;
      for (const s of saved) this.book.set(s.address, s.node, now.getTime());
      if (named) {
        metrics.addressesLearned.inc({ source: 'dns' }, named);
        log.info('mesh addresses named by DNS', { pairs: saved.slice(0, 5), count: named });
      }
    }
    const moved = await rekeyPending(db, { now, step: (fn) => db.transaction().execute(fn) });
    if (moved.pairs) log.info('rows moved from addresses to node names', { pairs: moved.pairs, rows: moved.rows });
    return { looked_up: batch.length, named, pairs_moved: moved.pairs, rows_moved: moved.rows };
  }

  private async ask(address: string, nowMs: number): Promise<string | null> {
    if (this.tried.size >= MAX_TRIED) this.tried.clear();
    try {
      const names = await this.lookup!(address);
      const name = names.map(nameFromPtr).find((n) => n !== null) ?? null;
      this.deps.metrics.resolverLookups.inc({ result: name ? 'name' : 'none' });
      if (!name) this.tried.set(address, nowMs + RETRY_NONE_MS);
      return name;
    } catch (err) {
      const code = (err as { code?: string }).code;
      const none = code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN';
      this.deps.metrics.resolverLookups.inc({ result: none ? 'none' : 'error' });
      this.tried.set(address, nowMs + (none ? RETRY_NONE_MS : RETRY_ERROR_MS));
      return null;
    }
  }
}