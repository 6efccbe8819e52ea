import { readFileSync } from 'node:fs';
import type { Context } from 'hono';
import { noneMatch } from './conditional.ts';

// Files the collector serves to browsers (the panel's own script and style,
// the API reference's bundle from node_modules). Nothing is read before the
// first request for it, so an idle collector holds none of it; once read, a
// file and its gzip form stay in memory (the largest, the reference's
// bundle, is 1.8 MB raw and about 0.5 MB gzipped).
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

export class StaticAsset {
  private body: Uint8Array | null = null;
  private gzipped: Uint8Array | null = null;
  private hash: string | null = null;

  constructor(
    readonly file: string,
    private readonly type = TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream',
  ) {}

  private load(): Uint8Array {
    if (!this.body) {
      this.body = readFileSync(this.file);
      this.hash = Bun.hash(this.body).toString(36);
    }
    return this.body;
  }

  /** Short content hash, for `?v=` in the URLs that pages print. */
  version(): string {
    this.load();
    return this.hash!;
  }

  serve(c: Context): Response {
    const body = this.load();
    const etag = `"${this.hash}"`;
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
      this.gzipped ??= Bun.gzipSync(body as Uint8Array<ArrayBuffer>, { level: 9 });
      headers['Content-Encoding'] = 'gzip';
      return c.body(this.gzipped as Uint8Array<ArrayBuffer>, 200, headers);
    }
    return c.body(body as Uint8Array<ArrayBuffer>, 200, headers);
  }
}
