import type { Context } from 'koa';
import { callbackParams } from './callback-params.js';
import type { Provider } from '../provider/discovery.js';
import { OpenIDError } from '../errors.js';
import { readLogin, removeLogin, unionScopes, writeLogin } from '../session/login-record.js';
import type { UserLogin } from '../state.js';
import type { LoginResult, ResolvedOptions } from '../options.js';
import { responded } from '../respond.js';
import { sessionOf } from '../session/session-access.js';
import { restoreSessionLifetime, takeTransaction } from './transactions.js';
import { validateResponse } from './authorization-response.js';
import { RESUBMIT_FIELD, needsResubmit, renderResubmit } from './form-post.js';

/**
 * The callback ("auth") route. Every path validates, in this order: parameters (no repeats, sizes),
 * `state` (known to this session, this provider, unexpired, single use), the RFC 9207 `iss`
 * parameter, the provider's `error`, then the response of the configured type
 * ({@link validateResponse}: code exchange, `c_hash`/`at_hash`, every ID token checked on our side).
 * Only then is the login stored, the session id renewed (fixation), and `handleUserLogin` called.
 */
export async function completeLogin(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  const params = await callbackParams(ctx);
  const session = sessionOf(ctx);
  if (needsResubmit(ctx, params, session.isNew === true)) return renderResubmit(ctx, params);
  params.delete(RESUBMIT_FIELD);
  const state = params.get('state');
  const tx = takeTransaction(session, state, opts.name, opts.loginTimeout * 1000);

  const provider = await getProvider();
  // RFC 9207: when the provider advertises it, `iss` must be there and right, on error responses
  // too. Response types with an ID token may omit it: the ID token's verified `iss` stands in.
  const iss = params.get('iss');
  const issRequired = provider.server.authorization_response_iss_parameter_supported === true && opts.responseType === 'code';
  if ((iss !== null || issRequired) && iss !== provider.issuer) {
    throw new OpenIDError('issuer_mismatch', 'the authorization response names another issuer, or none (RFC 9207)');
  }
  const error = params.get('error');
  if (error !== null) {
    throw new OpenIDError('provider_error', 'the provider did not complete the login', { providerError: error });
  }

  const got = await validateResponse(provider, opts, tx, params, state!);
  const { claims } = got;
  const now = Math.floor(Date.now() / 1000);
  const previous = readLogin(session, opts.name);
  const granted = got.scope ? got.scope.split(' ').filter(Boolean) : tx.scope.split(' ');
  const login: UserLogin = {
    claims,
    scopes: previous?.claims.sub === claims.sub ? unionScopes(previous.scopes, granted) : granted,
    ...(got.expiresIn !== undefined ? { expiresAt: now + got.expiresIn } : {}),
    loggedInAt: now,
    tokens: {
      ...(got.accessToken ? { accessToken: got.accessToken, tokenType: got.tokenType } : {}),
      ...(got.refreshToken ? { refreshToken: got.refreshToken } : {}),
      idToken: got.idToken,
    },
  };
  writeLogin(session, opts.name, login);
  // Session fixation: a completed login gets a new session id; the data (other providers' logins,
  // other pending logins) moves along.
  restoreSessionLifetime(session);
  await session.regenerate();

  const result: LoginResult = { ...login, provider: opts.name, returnTo: tx.returnTo };
  ctx.state.user = claims;
  ctx.state.openid = { provider: opts.name, claims, scopes: login.scopes, expiresAt: login.expiresAt, token: 'session' };
  if (opts.handleUserLogin) {
    ctx.status = 404;
    try {
      await opts.handleUserLogin(ctx, result);
    } catch (err) {
      removeLogin(sessionOf(ctx), opts.name);
      throw err;
    }
    if (responded(ctx)) return;
  }
  ctx.redirect(tx.returnTo);
}
