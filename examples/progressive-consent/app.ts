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
import type { Context } from 'koa';

import { OpenID, isOpenIDError, redisSession } from '../../src/index.js';

export interface ProgressiveConsentAppOptions {
  /** The provider's discovery document URL (or issuer URL), and the client registered there. */
  configuration: string;
  clientId: string;
  clientSecret: string;
  /** The app's public origin: the redirect URI is `<baseUrl>/openid/sso/auth`. */
  baseUrl: string;
  /** Default: `REDIS_URL`, else sessions in memory (development only). */
  redisUrl?: string;
  /** Only for a development provider on http://. */
  allowInsecureRequests?: boolean;
}

const escapeHtml = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(ctx: Context, html: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'html';
  ctx.body = `<!doctype html><meta charset="utf-8"><title>Progressive consent</title>${html}`;
}

export function createProgressiveConsentApp(opts: ProgressiveConsentAppOptions): { app: Koa; close(): Promise<void> } {
  const app = new Koa();
  const sessions = redisSession(app, { prefix: 'example-progressive-consent:', ...(opts.redisUrl ? { redis: opts.redisUrl } : {}) });
  app.use(sessions);

  const sso = new OpenID(app, {
    name: 'sso',
    configuration: opts.configuration,
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
    baseUrl: opts.baseUrl,
    allowInsecureRequests: opts.allowInsecureRequests ?? false,
    // Only what every page needs; more is asked for later.
    scopes: ['openid', 'profile'],
    handleError(ctx, err) {
      // A browser on a page that needs a scope not granted yet: offer to grant it. Anything else
      // (API clients: 403 {"error":"insufficient_scope"}) gets the library's default answer.
      if (err.code === 'insufficient_scope' && ctx.path === '/email' && ctx.accepts('json', 'html') === 'html') {
        page(ctx, `<h1>Your e-mail address</h1><p>This page needs your permission to read your e-mail address.</p><p><a href="/more-scopes/email">Share my e-mail address</a> <a href="/">No thanks</a></p>`);
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
    page(
      ctx,
      openid
        ? `<p>Logged in as ${escapeHtml(openid.claims.sub)}. Granted scopes: <code data-testid="scopes">${escapeHtml(openid.scopes.join(' '))}</code></p><p><a href="/email">Your e-mail address</a></p>`
        : `<p><a href="${escapeHtml(sso.loginUrl('/'))}">Log in</a></p>`,
    );
  });

  // 403 insufficient_scope until the login holds `email`.
  router.get('/email', sso.required({ scopes: ['email'] }), async (ctx) => {
    // Providers put the e-mail claims into userinfo (the ID token may not carry them).
    const info = await sso.userInfo(ctx);
    page(ctx, `<h1>Hello ${escapeHtml(info.name ?? info.sub)}</h1><p>Your e-mail address: <strong data-testid="email">${escapeHtml(info.email)}</strong></p>`);
  });

  // The upgrade: a new login at the provider asking for `email` on top of the scopes held now. The
  // current login stays until the new one has been validated; the provider asks only for consent
  // (the user is still logged in there).
  router.get('/more-scopes/email', (ctx) => sso.login(ctx, { scopes: ['email'], returnTo: '/email' }));

  app.use(router.routes());
  return { app, close: () => sessions.close() };
}
