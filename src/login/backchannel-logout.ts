import { hash } from 'node:crypto';
import type { Context } from 'koa';
import { OpenIDError } from '../errors.js';
import { checkLogoutToken } from '../jwt/logout-token.js';
import type { ResolvedOptions } from '../options.js';
import type { Provider } from '../provider/discovery.js';
import { endLogins } from '../session/login-index.js';
import { sessionStoreOf } from '../session/redis-session.js';
import { readForm } from './callback-params.js';

/**
 * The back-channel logout route (OpenID Connect Back-Channel Logout 1.0 §2.5-2.8): the provider
 * POSTs a `logout_token`; a valid one, seen for the first time, ends the logins of its `sid` (or,
 * with only a `sub`, all of that user's logins of this provider) in every session on every
 * instance, and is answered `200`. Anything else is `400 invalid_request` and ends nothing.
 */
export async function backchannelLogout(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  if (ctx.method !== 'POST') {
    ctx.set('Allow', 'POST');
    throw new OpenIDError('invalid_request', 'the back-channel logout route takes a POST', { status: 405 });
  }
  const store = sessionStoreOf(ctx.app);
  if (!store) throw new TypeError('back-channel logout needs the built-in sessions: app.use(redisSession(app, ...))');
  const params = new URLSearchParams(await readForm(ctx, 'back-channel logout'));
  const tokens = params.getAll('logout_token');
  if (tokens.length !== 1) throw new OpenIDError('invalid_request', tokens.length ? 'the "logout_token" parameter is repeated' : 'the "logout_token" parameter is missing');
  const token = await checkLogoutToken(await getProvider(), opts, tokens[0]);
  // §2.6 step 8 (optional there, done here): a logout token is used once; its jti is remembered
  // for as long as the token could be valid.
  const jtiKey = `${store.prefix}jti:${opts.name}:${hash('sha256', token.jti, 'base64url')}`;
  if (!(await store.claim(jtiKey, Math.max(1000, (token.validUntil - Date.now() / 1000) * 1000)))) {
    throw new OpenIDError('invalid_request', 'the logout token was already used ("jti" replayed)');
  }
  await endLogins(store, opts.name, token.sid !== undefined ? { sid: token.sid } : { sub: token.sub! });
  ctx.status = 200;
  ctx.body = '';
}
