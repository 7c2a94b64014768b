/**
 * koa-session with koa-redis, set up by the app, in place of the built-in sessions (README,
 * "koa-session and koa-redis"): the logins live in koa-session's `ctx.session`. The rest is the
 * quick start: every page needs a login.
 *
 *   npm install koa-session koa-redis @types/koa-redis
 */
import Koa from 'koa';
import session, { type CreateSessionOptions } from 'koa-session';
import koaRedis from 'koa-redis';

import { OpenID } from '../../src/index.js';

export interface KoaRedisAppOptions {
  /** Where koa-redis keeps the sessions. */
  redisUrl: string;
  /** Signs the session cookie. */
  sessionSecret: string;
  /** The provider's discovery document URL, and the client registered there. */
  configuration: string;
  clientId: string;
  clientSecret: string;
  /** The app's public origin: the redirect URI is `<baseUrl>/openid/sso/auth`. */
  baseUrl: string;
  /** Only for a development provider on http://. */
  allowInsecureRequests?: boolean;
}

export function createKoaRedisApp(opts: KoaRedisAppOptions): { app: Koa; close(): Promise<void> } {
  const app = new Koa();
  app.keys = [opts.sessionSecret];

  const store = koaRedis({ url: opts.redisUrl });
  // koa-redis needs a numeric maxAge (it cannot store a browser-session cookie's 'session').
  // @types/koa-redis is written against koa-session 6, whose store type koa-session 7 no longer
  // exports: under koa-session 7 its get/set/destroy vanish from the type, not from the store.
  app.use(session({ store: store as unknown as CreateSessionOptions['store'], maxAge: 86_400_000, sameSite: 'lax' }, app));

  const sso = new OpenID(app, {
    name: 'sso',
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
    configuration: opts.configuration,
    baseUrl: opts.baseUrl,
    allowInsecureRequests: opts.allowInsecureRequests ?? false,
  });
  app.use(sso.required());
  app.use((ctx) => {
    ctx.body = `Hello ${ctx.state.user!.sub}`;
  });
  // koa-redis made its own client from the URL: close it with the app.
  return { app, close: () => store.client.quit() };
}
