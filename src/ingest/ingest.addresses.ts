import { nodeName } from './ingest.read.ts';

// Mesh addresses and the names behind them. The upstream agent names hops by
// their mesh IPv4 address and sometimes a destination only by its dst_ip; an
// address is that node's identity until the collector knows its name, from a
// probe that carries both (a named destination whose hop list ends at an
// address) or from the mesh's reverse DNS (src/ingest/resolver.ts).

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export const isAddress = (s: string) => IPV4.test(s);

/** An address that can belong to one mesh node: not loopback, unspecified, broadcast or multicast. */
export function isMeshAddress(s: string): boolean {
  if (!isAddress(s)) return false;
  const first = Number(s.slice(0, s.indexOf('.')));
  return first !== 0 && first !== 127 && first < 224;
}

/** Labels AREDN puts before a node's name for its other interfaces (dtdlink.NODE.local.mesh, mid2.NODE…). */
const INTERFACE_LABEL = /^(dtdlink|mid\d+|xlink\d+|lan|wan)$/i;

/**
 * The node name in a reverse-DNS answer: "KX6ABC-HAP-2.local.mesh." →
 * "KX6ABC-HAP-2"; "dtdlink.KX6ABC-HAP-2.local.mesh" → "KX6ABC-HAP-2". Null
 * when the answer is not a mesh node's name.
 */
export function nameFromPtr(ptr: string): string | null {
  let s = ptr.trim().replace(/\.$/, '');
  if (!/\.local\.mesh$/i.test(s)) return null;
  s = s.replace(/\.local\.mesh$/i, '');
  const labels = s.split('.');
  if (labels.length > 1 && INTERFACE_LABEL.test(labels[0]!)) labels.shift();
  const name = nodeName(labels.join('.'));
  return name !== null && !isAddress(name) ? name : null;
}

/**
 * What this process knows of address → name pairs: a cache in front of the
 * node_addresses table, so a report whose addresses are known costs no read.
 * A miss is remembered for NEGATIVE_TTL_MS (another collector, or the
 * resolver, may learn the pair meanwhile); the whole cache is bounded.
 */
export class AddressBook {
  static readonly NEGATIVE_TTL_MS = 60_000;
  private readonly names = new Map<string, { node: string | null; until: number }>();

  constructor(private readonly maxEntries = 50_000) {}

  /** The name, null when known to have none (for now), undefined when the table must be asked. */
  get(address: string, nowMs: number): string | null | undefined {
    const e = this.names.get(address);
    if (!e) return undefined;
    if (e.node === null && e.until < nowMs) {
      this.names.delete(address);
      return undefined;
    }
    return e.node;
  }

  set(address: string, node: string | null, nowMs: number): void {
    if (this.names.size >= this.maxEntries && !this.names.has(address)) this.names.clear();
    this.names.set(address, { node, until: node === null ? nowMs + AddressBook.NEGATIVE_TTL_MS : Infinity });
  }

  get size(): number {
    return this.names.size;
  }
}

/** A pair learnt from a probe. */
export interface LearnedPair {
  address: string;
  node: string;
  /** The agent time of the probe it came from: the newest observation wins. */
  atMs: number;
}