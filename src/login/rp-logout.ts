import type { Context } from 'koa';
import * as client from 'openid-client';
import { OpenIDError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { Provider } from '../provider/discovery.js';
import { escapeHtml, sendPage } from '../respond.js';
import type { SessionLogins } from '../session/logins.js';
import { checkStateSyntax } from '../session/pending.js';
import { redirectUri } from './authorize.js';

/**
 * Whether a request to the logout route comes from the app itself and is meant: `Sec-Fetch-Site`
 * says `same-origin` (or `none`: typed or bookmarked), else `Origin` is the app's; and it is no
 * prefetch. A request that shows neither (an old browser, a link from elsewhere) is not trusted
 * to log anyone out.
 */
function sameOrigin(ctx: Context, opts: ResolvedOptions): boolean {
  // A prefetch (Sec-Purpose / Purpose: prefetch) is not the user asking to log out.
  if (/prefetch/i.test(ctx.get('sec-purpose') || ctx.get('purpose'))) return false;
  const site = ctx.get('sec-fetch-site');
  if (site) return site === 'same-origin' || site === 'none';
  const origin = ctx.get('origin');
  if (!origin) return false;
  try {
    // Not ctx.origin: Koa 3 answers it from the Origin header itself.
    return origin === (opts.baseUrl ? new URL(opts.baseUrl).origin : `${ctx.protocol}://${ctx.host}`);
  } catch {
    return false;
  }
}

/** A page that asks before logging out: a POST from the app's own origin. */
function confirmLogout(ctx: Context, action: string): void {
  sendPage(ctx, 'Log out?', 'Do you want to log out?');
  // The page's CSP allows no form; this one posts to the app's own logout route only.
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'");
  ctx.body = String(ctx.body).replace(
    '</body>',
    `<form method="post" action="${escapeHtml(action)}"><button type="submit" class="button primary">Log out</button></form></body>`,
  );
}

/**
 * RP-Initiated Logout 1.0: ends this provider's login in the session, then sends the browser to
 * the provider's `end_session_endpoint` with `id_token_hint`, `client_id`, the configured
 * `post_logout_redirect_uri` and a fresh single-use `state`; without one, to `postLogoutReturnTo`.
 */
export async function endSession(ctx: Context, opts: ResolvedOptions, provider: Provider, logins: SessionLogins, loggedOutPath: string): Promise<void> {
  const login = await logins.login(opts.name, true);
  await logins.removeLogin(opts.name);
  ctx.set('Cache-Control', 'no-store');
  const endpoint = provider.server.end_session_endpoint;
  if (!endpoint) return ctx.redirect(opts.postLogoutReturnTo);
  const state = client.randomState();
  await logins.startLogout(state, opts.name, opts.loginTimeout * 1000);
  const url = client.buildEndSessionUrl(provider.config, {
    post_logout_redirect_uri: opts.postLogoutRedirectUri ?? redirectUri(ctx, opts, loggedOutPath),
    state,
    ...(login?.tokens.idToken ? { id_token_hint: login.tokens.idToken } : {}),
  });
  // client_id is always there (Keycloak 18+ refuses a logout without it or id_token_hint).
  if (!url.searchParams.has('client_id')) url.searchParams.set('client_id', opts.clientId);
  ctx.redirect(url.href);
}

/** The logout route: same-origin requests log out; anything else gets a confirmation page. */
export async function logoutRoute(ctx: Context, opts: ResolvedOptions, run: () => Promise<void>, routePath: string): Promise<void> {
  if (!sameOrigin(ctx, opts)) return confirmLogout(ctx, routePath);
  await run();
}

/**
 * Where the provider sends the browser back: a `state` this session sent (single use) goes on to
 * `postLogoutReturnTo`; anything else gets a page saying the app's logout is done but the
 * provider's is unconfirmed (no redirect).
 */
export async function loggedOut(ctx: Context, opts: ResolvedOptions, logins: SessionLogins): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  const state = ctx.query.state;
  let provider: string | undefined;
  try {
    checkStateSyntax(state);
    provider = await logins.takeLogout(state, opts.loginTimeout * 1000);
  } catch (err) {
    if (!(err instanceof OpenIDError && err.code === 'invalid_state')) throw err;
  }
  if (provider === opts.name) return ctx.redirect(opts.postLogoutReturnTo);
  ctx.status = 200;
  sendPage(ctx, 'Logged out of this app', 'You are logged out of this app. The logout at the identity provider could not be confirmed.', [
    { text: 'Home', href: opts.postLogoutReturnTo, primary: true },
  ]);
}
