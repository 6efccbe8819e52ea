import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import type { AppEnv } from '../app-deps.ts';
import type { Config } from '../config.ts';

/**
 * The Content-Security-Policy of every page the collector renders: nothing
 * but its own files (no CDN, no inline script), and framing only by the
 * origins in PANEL_FRAME_ANCESTORS. Swagger UI sets style attributes, so
 * /docs allows inline styles; the panel does not need them.
 */
export function contentSecurityPolicy(config: Pick<Config, 'PANEL_FRAME_ANCESTORS'>, opts: { inlineStyles?: boolean } = {}): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self'${opts.inlineStyles ? " 'unsafe-inline'" : ''}`,
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    `frame-ancestors ${config.PANEL_FRAME_ANCESTORS.join(' ')}`,
  ].join('; ');
}

// ---- Panel sessions (only when API_TOKEN is set) ----------------------------
//
// A browser cannot send a bearer header when it follows a link, so the panel
// asks for the token once (/login) and answers with an HttpOnly cookie that
// proves it was given: `<expiry>.<HMAC(key, expiry)>`, the key derived from
// API_TOKEN. Nothing is stored on the collector; changing API_TOKEN ends every
// session. The cookie never opens the JSON API: that still wants the header.

export const SESSION_COOKIE = 'meshmon_session';
export const SESSION_DAYS = 30;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export interface PanelAuth {
  /** False when API_TOKEN is unset: the panel is as open as the API. */
  readonly required: boolean;
  /** Constant-time check of a token typed into /login or sent as a bearer header. */
  tokenMatches(token: string): boolean;
  isSignedIn(c: Context): boolean;
  signIn(c: Context): void;
  signOut(c: Context): void;
}

export function panelAuth(config: Pick<Config, 'API_TOKEN' | 'PANEL_FRAME_ANCESTORS'>, now: () => Date): PanelAuth {
  const token = config.API_TOKEN;
  const expected = token ? digest(token) : null;
  const key = token ? digest(`meshmon-panel-session\0${token}`) : null;
  const sign = (expiry: string) => createHmac('sha256', key!).update(`panel:${expiry}`).digest('base64url');
  // A cross-site frame (OpenWISP on another host) only gets SameSite=None
  // cookies, and browsers accept those only with Secure (HTTPS).
  const crossSite = config.PANEL_FRAME_ANCESTORS.some((s) => s !== "'self'" && s !== "'none'");
  const tokenMatches = (t: string) => !!expected && timingSafeEqual(digest(t), expected);

  return {
    required: !!token,
    tokenMatches,
    isSignedIn(c) {
      if (!key) return true;
      const bearer = /^Bearer[ ]+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
      if (bearer && tokenMatches(bearer[1]!)) return true;
      const v = getCookie(c, SESSION_COOKIE);
      const m = v ? /^(\d{1,12})\.([\w-]{43})$/.exec(v) : null;
      if (!m) return false;
      if (Number(m[1]) * 1000 < now().getTime()) return false;
      return timingSafeEqual(Buffer.from(m[2]!), Buffer.from(sign(m[1]!)));
    },
    signIn(c) {
      const expiry = String(Math.floor(now().getTime() / 1000) + SESSION_DAYS * 86400);
      const https = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
      setCookie(c, SESSION_COOKIE, `${expiry}.${sign(expiry)}`, {
        httpOnly: true,
        path: '/',
        maxAge: SESSION_DAYS * 86400,
        sameSite: crossSite && https ? 'None' : 'Lax',
        secure: https,
      });
    },
    signOut(c) {
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
    },
  };
}

/** Where /login may send the browser back to: a path on this collector, never another site. */
export function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])[\w\-./?=&%,:~+*@!$'()]*$/.test(next) && !next.startsWith('/login') ? next : '/';
}

/** Pages of the panel: signed in, or off to /login (a background refresh gets a bare 401). */
export function requireSession(auth: PanelAuth, loginPath: (next: string) => string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!auth.required || auth.isSignedIn(c)) return next();
    if (c.req.header('x-panel-partial')) return c.body(null, 401);
    const url = new URL(c.req.url);
    return c.redirect(loginPath(url.pathname + url.search), 303);
  };
}
