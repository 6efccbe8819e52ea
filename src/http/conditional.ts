import type { Context } from 'hono';

// The read API's answers carry an ETag, and a request whose If-None-Match
// holds it gets a 304 without a body. The panel polls the same few URLs every
// few seconds, often across RF links; most polls change nothing. The tag is a
// hash of the exact body, so it is the same on every collector of one version
// and needs no bookkeeping: any change of the answer changes it.

/** A strong entity tag for a JSON body. */
export function entityTag(body: string): string {
  return `"${Bun.hash(body).toString(36)}-${body.length.toString(36)}"`;
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored; `*` matches anything. */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const tag = etag.replace(/^W\//, '');
  for (const part of header.split(',')) {
    const t = part.trim();
    if (t === '*' || t.replace(/^W\//, '') === tag) return true;
  }
  return false;
}

/**
 * A 200 with the JSON text, or a 304 when the client already has it.
 * `no-cache`: a client may keep the answer but must ask before using it again.
 */
export function conditionalJson(c: Context, body: string, etag = entityTag(body), headers: Record<string, string> = {}): Response {
  const common = { ETag: etag, 'Cache-Control': 'no-cache', ...headers };
  if (noneMatch(c.req.header('if-none-match'), etag)) return c.body(null, 304, common);
  return c.body(body, 200, { 'Content-Type': 'application/json', ...common });
}
