/**
 * Progressive consent: log in with few scopes, ask for more when a page needs them. The login asks
 * for `openid profile` only; the e-mail page needs `email` too. Until the user granted it, the page
 * answers 403 `insufficient_scope` (browsers get a page offering to share the address), and
 * `provider.login(ctx, { scopes: ['email'] })` asks the provider for it on top of the scopes the
 * login already holds.
 *
 * Routes (besides the provider's `/openid/sso/...`):
 *   GET /                 a login link, or the granted scopes
 *   GET /email            needs the `email` scope: shows the address (from userinfo)
 *   GET /more-scopes/email  asks the provider for `email`, then back to /email
 */
import Router from '@koa/router';
import Koa from 'koa';

import { OpenID, isOpenIDError, redisSession } from '../../src/index.js';
import type { ProviderClient, Site } from '../shared/options.js';
import { escapeHtml, sendPage } from '../shared/page.js';

/** `baseUrl`: the redirect URI is `<baseUrl>/openid/sso/auth`. */
export interface ProgressiveConsentAppOptions extends Site {
  provider: ProviderClient;
}

export function createProgressiveConsentApp(opts: ProgressiveConsentAppOptions): { app: Koa; close(): Promise<void> } {
  const app = new Koa();
  const sessions = redisSession(app, { prefix: 'example-progressive-consent:', redis: opts.redisUrl });
  app.use(sessions);

  const sso = new OpenID(app, {
    name: 'sso',
    ...opts.provider, // configuration, clientId, clientSecret
    baseUrl: opts.baseUrl,
    // Only what every page needs; more is asked for later.
    scopes: ['openid', 'profile'],
    handleError(ctx, err) {
      // A browser on a page that needs a scope not granted yet: offer to grant it. Anything else
      // (API clients: 403 {"error":"insufficient_scope"}) gets the library's default answer.
      if (err.code === 'insufficient_scope' && ctx.path === '/email' && ctx.accepts('json', 'html') === 'html') {
        sendPage(ctx, 'Your e-mail address', `<p>This page needs your permission to read your e-mail address.</p><p><a href="/more-scopes/email">Share my e-mail address</a> <a href="/">No thanks</a></p>`);
        ctx.status = 403;
      }
    },
  });

  // login() and userInfo() called from the app's own routes throw OpenIDErrors (the provider
  // down, ...): answer them as the library's routes do (a page, or JSON for API clients).
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!isOpenIDError(err)) throw err;
      await sso.renderError(ctx, err);
    }
  });

  const router = new Router();

  router.get('/', sso.optional(), (ctx) => {
    const openid = ctx.state.openid;
    sendPage(
      ctx,
      'Progressive consent',
      openid
        ? `<p>Logged in as ${escapeHtml(openid.claims.sub)}. Granted scopes: <code data-testid="scopes">${escapeHtml(openid.scopes.join(' '))}</code></p><p><a href="/email">Your e-mail address</a></p>`
        : `<p><a href="${escapeHtml(sso.loginUrl('/'))}">Log in</a></p>`,
    );
  });

  // 403 insufficient_scope until the login holds `email`.
  router.get('/email', sso.required({ scopes: ['email'] }), async (ctx) => {
    // Providers put the e-mail claims into userinfo (the ID token may not carry them).
    const info = await sso.userInfo(ctx);
    sendPage(ctx, `Hello ${info.name ?? info.sub}`, `<p>Your e-mail address: <strong data-testid="email">${escapeHtml(info.email)}</strong></p>`);
  });

  // The upgrade: a new login at the provider asking for `email` on top of the scopes held now. The
  // current login stays until the new one has been validated; the provider asks only for consent
  // (the user is still logged in there).
  router.get('/more-scopes/email', (ctx) => sso.login(ctx, { scopes: ['email'], returnTo: '/email' }));

  app.use(router.routes());
  return { app, close: () => sessions.close() };
}
