/**
 * koa-redis as the session store, in place of the built-in one (README, "Sessions in Redis"): the
 * README's line as it is, compiled with `@types/koa-redis`, no cast. The rest is the quick start:
 * every page needs a login.
 *
 *   npm install koa-redis @types/koa-redis
 */
import Koa from 'koa';
import koaRedis from 'koa-redis';

import { OpenID, redisSession } from '../../src/index.js';

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
  app.use(redisSession(app, { store, maxAge: 86_400_000 }));

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
