import { readFileSync } from 'node:fs';
import type { Context } from 'hono';
import { noneMatch } from './conditional.ts';

// Files the collector serves to browsers (the panel's own script and style,
// the API reference's bundle from node_modules). Nothing is read before the
// first request for it, so an idle collector holds none of it. Once asked
// for, a file's gzip form stays in memory; its plain form too when small, and
// large ones (the reference's 1.8 MB bundle) are streamed from disk to the
// rare client that takes no gzip.
//
// URLs carry the content's hash (`?v=…`): a page names the exact version it
// was rendered with, so the browser may keep it for a year without asking;
// a request without the current hash is revalidated (ETag → 304).

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.html': 'text/html; charset=utf-8',
};

/** Files up to this size are kept in memory as they are, besides their gzip form. */
const KEEP_PLAIN_BYTES = 64 * 1024;

export class StaticAsset {
  private body: Uint8Array | null = null;
  private gzipped: Uint8Array | null = null;
  private hash: string | null = null;

  constructor(
    readonly file: string,
    private readonly type = TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream',
  ) {}

  /** Short content hash, for `?v=` in the URLs that pages print. */
  version(): string {
    if (this.hash === null) {
      const bytes = readFileSync(this.file);
      this.hash = Bun.hash(bytes).toString(36);
      if (bytes.byteLength <= KEEP_PLAIN_BYTES) this.body = bytes;
    }
    return this.hash;
  }

  serve(c: Context): Response {
    const etag = `"${this.version()}"`;
    const pinned = c.req.query('v') === this.hash;
    const headers: Record<string, string> = {
      ETag: etag,
      'Cache-Control': pinned ? 'public, max-age=31536000, immutable' : 'no-cache',
      Vary: 'Accept-Encoding',
      'X-Content-Type-Options': 'nosniff',
    };
    if (noneMatch(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers);
    headers['Content-Type'] = this.type;
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '') && !this.type.startsWith('image/png')) {
      this.gzipped ??= Bun.gzipSync((this.body ?? readFileSync(this.file)) as Uint8Array<ArrayBuffer>, { level: 9 });
      headers['Content-Encoding'] = 'gzip';
      return c.body(this.gzipped as Uint8Array<ArrayBuffer>, 200, headers);
    }
    return this.body ? c.body(this.body as Uint8Array<ArrayBuffer>, 200, headers) : new Response(Bun.file(this.file), { status: 200, headers });
  }
}
