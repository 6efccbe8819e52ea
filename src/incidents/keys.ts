import { z } from 'zod';

// The mesh objects incidents are about, as structured values: a link {a, b},
// a route {src, dst}. Node names are hostname-like and may contain "--"
// (AREDN allows it), so a name pair joined into one string cannot always be
// split back apart: code passes these objects around, and the text forms
// below are one-way — made for equality and lookup (map keys, the
// incidents.scope_key column, cache keys, log lines), never parsed back.

/** An undirected link between two nodes. Always sorted (`a < b`): build it with `link()`. */
export const Link = z
  .object({
    a: z.string().meta({ description: 'The node whose name sorts first' }),
    b: z.string().meta({ description: 'The other node' }),
  })
  .meta({ id: 'Link', description: 'An undirected link between two nodes, a < b (sorted): the hop A→B and the hop B→A are one link' });
export type Link = z.infer<typeof Link>;

/** A directed path from `src` to `dst`. */
export const Route = z
  .object({
    src: z.string(),
    dst: z.string(),
  })
  .meta({ id: 'Route', description: 'A directed route from src to dst' });
export type Route = z.infer<typeof Route>;

/** The link between x and y, sorted. */
export function link(x: string, y: string): Link {
  return x < y ? { a: x, b: y } : { a: y, b: x };
}

export function route(src: string, dst: string): Route {
  return { src, dst };
}

export const sameLink = (p: Link, q: Link) => p.a === q.a && p.b === q.b;
export const sameRoute = (p: Route, q: Route) => p.src === q.src && p.dst === q.dst;

/**
 * Separators of the text forms: characters no hostname-like node name holds
 * (letters, digits, "-", "_", "."), so two different objects never share a text form.
 */
export const LINK_SEPARATOR = ',';
export const ROUTE_SEPARATOR = '>';

/** "A,B" (sorted): a link's text form, for equality and lookup only. */
export function linkKey(l: Link): string;
/** "A,B" of the link between x and y, in either order. */
export function linkKey(x: string, y: string): string;
export function linkKey(l: Link | string, y?: string): string {
  const { a, b } = typeof l === 'string' ? link(l, y!) : l;
  return `${a}${LINK_SEPARATOR}${b}`;
}

/** "S>D": a route's text form, the way impact.routes and the truth files list routes. */
export function routeKey(r: Route): string;
export function routeKey(src: string, dst: string): string;
export function routeKey(r: Route | string, dst?: string): string {
  return typeof r === 'string' ? `${r}${ROUTE_SEPARATOR}${dst}` : `${r.src}${ROUTE_SEPARATOR}${r.dst}`;
}

/** The links of a hop list, in hop order (a repeated node makes no link). */
export function linksOf(hops: readonly string[]): Link[] {
  const out: Link[] = [];
  for (let i = 1; i < hops.length; i++) if (hops[i - 1] !== hops[i]) out.push(link(hops[i - 1]!, hops[i]!));
  return out;
}

/** Distinct values by text form, sorted by it: the canonical list form (incidents.links / .routes). */
export function uniqueLinks(ls: Iterable<Link>): Link[] {
  const m = new Map<string, Link>();
  for (const l of ls) m.set(linkKey(l), l);
  return [...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([, l]) => link(l.a, l.b));
}

export function uniqueRoutes(rs: Iterable<Route>): Route[] {
  const m = new Map<string, Route>();
  for (const r of rs) m.set(routeKey(r), r);
  return [...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([, r]) => route(r.src, r.dst));
}
