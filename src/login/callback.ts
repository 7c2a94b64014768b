import type { Context } from 'koa';
import { callbackParams } from './callback-params.js';
import type { Provider } from '../provider/discovery.js';
import { OpenIDError } from '../errors.js';
import { loginsOf, type SessionLogins } from '../session/logins.js';
import type { UserLogin } from '../state.js';
import type { LoginResult, ResolvedOptions } from '../options.js';
import { responded, sendPage } from '../respond.js';
import { checkStateSyntax, checkTaken } from '../session/pending.js';
import { validateResponse } from './authorization-response.js';
import { fitsTemplate } from '../jwt/tenant-issuer.js';
import { userInfoClaims } from '../provider/userinfo-request.js';
import { RESUBMIT_FIELD, needsResubmit, renderResubmit } from './form-post.js';

/** The answers to `prompt=none` that mean "not without the user" (OpenID Connect Core §3.1.2.6). */
const SILENT_REFUSALS = new Set(['login_required', 'interaction_required', 'consent_required', 'account_selection_required']);

/**
 * The callback ("auth") route. Every path validates, in this order: parameters (no repeats, sizes),
 * `state` (known to this session, this provider, unexpired, single use even for concurrent
 * callbacks: claimed atomically in the session store), the RFC 9207 `iss`
 * parameter, the provider's `error`, then the response of the configured type
 * ({@link validateResponse}: code exchange, `c_hash`/`at_hash`, every ID token checked on our side).
 * Only then is the login stored, every other pending login of the session dropped (the first login
 * to finish wins), the session id renewed (fixation), and `handleUserLogin` called.
 *
 * A callback whose login already settled in this session is answered without an error page: a
 * reload of a completed one redirects to its `returnTo`; a login dropped because another one
 * finished first gets an "already logged in" page with a link to its `returnTo`.
 */
export async function completeLogin(ctx: Context, opts: ResolvedOptions, getProvider: () => Promise<Provider>, loginUrl: string): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  const allowed = opts.responseMode === 'form_post' ? 'POST' : 'GET';
  if (ctx.method !== allowed) {
    // A POST in query mode (or a GET in form_post mode) is not what the provider was asked to send.
    ctx.set('Allow', allowed);
    throw new OpenIDError('invalid_request', `the callback takes a ${allowed} (response_mode ${opts.responseMode})`, { status: 405 });
  }
  const params = await callbackParams(ctx);
  const logins = loginsOf(ctx);
  if (needsResubmit(ctx, params, logins.isNew)) return renderResubmit(ctx, params);
  params.delete(RESUBMIT_FIELD);
  const state = params.get('state');
  checkStateSyntax(state);
  const ttl = opts.loginTimeout * 1000;
  // Taken out of the session atomically: of two concurrent callbacks of one login, one gets it.
  const taken = await logins.takeLogin(state, ttl);
  if (!taken) return answerSettled(ctx, logins, state, opts, loginUrl);
  const tx = checkTaken(taken, opts.name, ttl);

  const provider = await getProvider();
  // RFC 9207: when the provider advertises it, `iss` must be there and right, on error responses
  // too. Response types with an ID token may omit it: the ID token's verified `iss` stands in.
  const iss = params.get('iss');
  const issRequired = provider.server.authorization_response_iss_parameter_supported === true && opts.responseType === 'code';
  // A multi-tenant issuer: the parameter names the user's tenant, which the ID token must name too (below).
  const issFits = iss !== null && (provider.tenants ? fitsTemplate(iss, provider.tenants) : iss === provider.issuer);
  if ((iss !== null || issRequired) && !issFits) {
    throw new OpenIDError('issuer_mismatch', 'the authorization response names another issuer, or none (RFC 9207)');
  }
  const error = params.get('error');
  if (error !== null && tx.silent && SILENT_REFUSALS.has(error)) {
    // The provider cannot log the user in without showing a page: the silent try is over.
    ctx.redirect(tx.returnTo);
    return;
  }
  if (error !== null) {
    throw new OpenIDError('provider_error', 'the provider did not complete the login', { providerError: error });
  }

  const got = await validateResponse(provider, opts, tx, params, state);
  if (provider.tenants && iss !== null && got.claims.iss !== iss) {
    throw new OpenIDError('issuer_mismatch', 'the authorization response names another tenant than the ID token (RFC 9207)');
  }
  // Core §5.4: profile and email claims may come only from userinfo; the ID token's win.
  const userInfo = opts.userInfo && got.accessToken ? await userInfoClaims(provider, got.accessToken, got.claims.sub) : undefined;
  const claims = userInfo ? { ...userInfo, ...got.claims } : got.claims;
  const now = Math.floor(Date.now() / 1000);
  const login: UserLogin = {
    claims,
    scopes: got.scopes,
    ...(userInfo ? { userInfo } : {}),
    ...(got.expiresIn !== undefined ? { expiresAt: now + got.expiresIn } : {}),
    loggedInAt: now,
    endsAt: now + opts.absoluteLifetime,
    idleTimeout: opts.idleTimeout,
    tokens: {
      ...(got.accessToken ? { accessToken: got.accessToken, tokenType: got.tokenType } : {}),
      ...(got.refreshToken ? { refreshToken: got.refreshToken } : {}),
      idToken: got.idToken,
    },
  };
  // One atomic step: the login stored, every other pending login dropped, and (session fixation)
  // a new session id; the data and other providers' logins stay.
  await logins.completeLogin(state, tx, login, ttl);

  const result: LoginResult = { ...login, provider: opts.name, returnTo: tx.returnTo };
  ctx.state.user = claims;
  ctx.state.openid = { provider: opts.name, claims, scopes: login.scopes, expiresAt: login.expiresAt, token: 'session' };
  if (opts.handleUserLogin) {
    // Koa's default status is an implicit 404: a hook that sets a body gets a 200, as in any route.
    try {
      await opts.handleUserLogin(ctx, result);
    } catch (err) {
      await logins.removeLogin(opts.name);
      throw err;
    }
    if (responded(ctx)) return;
  }
  ctx.redirect(tx.returnTo);
}

/** Who a login is, for a person to recognise: a name, else an e-mail address, else the `sub`. */
function displayName(claims: Record<string, unknown>): string {
  const name = [claims.name, claims.preferred_username, claims.email, claims.sub].find((v) => typeof v === 'string' && v.length > 0);
  return (name as string).slice(0, 100);
}

/**
 * A callback whose `state` is no longer pending: its login settled in this session, or it is
 * unknown. A login dropped because another finished first shows who is logged in now, so a person
 * who is not that account (a login planted by someone else) notices and can log in again.
 */
async function answerSettled(ctx: Context, logins: SessionLogins, state: string, opts: ResolvedOptions, loginUrl: string): Promise<void> {
  const settled = await logins.settled(state, opts.loginTimeout * 1000);
  const current = settled && (await logins.login(opts.name));
  if (settled?.provider === opts.name && current) {
    if (settled.outcome === 'completed') return ctx.redirect(settled.returnTo);
    ctx.status = 200;
    return sendPage(ctx, 'You are already logged in', `Another login in this browser finished first: you are logged in as ${displayName(current.claims)}.`, [
      { text: 'Continue', href: settled.returnTo, primary: true },
      { text: 'Not you? Log in again', href: loginUrl },
    ]);
  }
  if (settled?.outcome === 'superseded') {
    throw new OpenIDError('invalid_state', 'another login in this browser finished first: start this one again');
  }
  throw new OpenIDError('invalid_state', 'unknown or already used "state": start the login again');
}
