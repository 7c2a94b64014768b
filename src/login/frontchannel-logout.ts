import type { Context } from 'koa';
import { OpenIDError } from '../errors.js';
import { fitsTemplate } from '../jwt/tenant-issuer.js';
import type { ResolvedOptions } from '../options.js';
import type { Provider } from '../provider/discovery.js';
import { endLogins } from '../session/login-index.js';
import { sessionStoreOf } from '../session/redis-session.js';

/**
 * The front-channel logout route (OpenID Connect Front-Channel Logout 1.0 §2-3): the provider
 * loads it in an iframe with `iss` and `sid`. The browser's session cookie is usually not sent in
 * a cross-site frame, so the logins of that `sid` are found through the index and ended on every
 * instance. `iss` must be this provider's; without it, only when `frontchannelLogoutRequiresIss`
 * is `false` (Azure AD sends `sid` alone). The answer may be framed by the provider.
 */
export async function frontchannelLogout(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  const store = sessionStoreOf(ctx.app);
  if (!store) throw new TypeError('front-channel logout needs the built-in sessions: app.use(redisSession(app, ...))');
  const query = new URLSearchParams(ctx.querystring);
  const [sid, ...moreSids] = query.getAll('sid');
  const [iss, ...moreIss] = query.getAll('iss');
  if (moreSids.length || moreIss.length) throw new OpenIDError('invalid_request', 'a front-channel logout parameter is repeated');
  if (!sid || sid.length > 255) throw new OpenIDError('invalid_request', 'the front-channel logout has no valid "sid"');
  if (iss === undefined && opts.frontchannelLogoutRequiresIss) throw new OpenIDError('invalid_request', 'the front-channel logout has no "iss"');
  if (iss !== undefined) {
    const provider = await getProvider();
    // A multi-tenant provider names the user's tenant's issuer.
    if (provider.tenants ? !fitsTemplate(iss, provider.tenants) : iss !== provider.issuer) {
      throw new OpenIDError('invalid_request', 'the front-channel logout names another issuer');
    }
  }
  await endLogins(store, opts.name, { sid });
  ctx.status = 200;
  ctx.type = 'html';
  ctx.body = '<!doctype html><title>Logged out</title>';
}
