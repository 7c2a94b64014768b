import type { Context } from 'koa';

export type SessionData = Record<string, unknown> & { regenerate?: () => Promise<void> };

/**
 * The koa-session session of this request. Using a provider without session middleware is a
 * setup mistake, reported as such (a `TypeError`, not a protocol error).
 */
export function sessionOf(ctx: Context): SessionData {
  const session = (ctx as { session?: SessionData | null }).session;
  if (!session) {
    throw new TypeError('koa-session-openid needs a session: add app.use(redisSession(app, ...)) before the OpenID routes and guards');
  }
  return session;
}

/** The session if there is one (a guard on a request without any session simply finds no login). */
export function maybeSession(ctx: Context): SessionData | undefined {
  return (ctx as { session?: SessionData | null }).session ?? undefined;
}
