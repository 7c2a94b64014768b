import type { Context } from 'koa';

/** Session data as this library reads and writes it. */
export type SessionLike = Record<string, unknown>;

export type SessionData = Record<string, unknown> & { regenerate(): Promise<void>; readonly isNew?: boolean; maxAge?: number | 'session' };

/**
 * The koa-session session of this request. Using a provider without session middleware is a
 * setup mistake, reported as such (a `TypeError`, not a protocol error).
 */
export function sessionOf(ctx: Context): SessionData {
  const session = (ctx as { session?: SessionData | null }).session;
  if (!session) {
    throw new TypeError('koa-session-openid needs a session: add app.use(redisSession(app, ...)) before the OpenID routes and guards');
  }
  // Tokens go into the session: a cookie-only session would hand them to the browser.
  if (!(ctx as { sessionOptions?: { store?: unknown } }).sessionOptions?.store || typeof session.regenerate !== 'function') {
    throw new TypeError('koa-session-openid needs a server-side session (redisSession, or koa-session with a store): tokens never go into a cookie');
  }
  return session;
}
