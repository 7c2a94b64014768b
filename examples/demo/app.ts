/**
 * The demo app: one Koa app, sessions kept server-side (Redis, or memory without `REDIS_URL`), and
 * two OpenID providers side by side in the same session. Everything it prints is escaped.
 *
 * Routes (besides each provider's library routes `/openid/<name>/login`, `/auth`, `/logout` and
 * `/logged-out`):
 *   GET  /                    every provider: its claims and scopes, or a login link
 *   POST /more-scopes/<name>  progressive consent: log in again asking for `email` too
 *   GET  /userinfo/<name>     the provider's userinfo answer (login required)
 *   GET  /private             login with the first provider required (redirect, or 401 JSON)
 *
 * "Log out" posts to the library's `/openid/<name>/logout`: it ends that provider's login here,
 * then at the provider too (RP-Initiated Logout), which asks to confirm and sends the browser back
 * to `/`. The provider's own session ends with it, so the next login asks for a password again.
 */

import Router from '@koa/router';
import Koa from 'koa';
import type { Context, Middleware } from 'koa';

import { OpenID, isOpenIDError, redisSession } from '../../src/index.js';
import { escapeHtml, sendPage } from '../shared/page.js';

export interface DemoProvider {
  /** Route and session name: letters, digits, `_`, `-`. */
  name: string;
  /** Shown on the page ("Log in with <label>"). */
  label: string;
  /** The discovery document URL (or issuer URL). */
  configuration: string;
  clientId: string;
  clientSecret: string;
}

export interface DemoAppOptions {
  providers: DemoProvider[];
  /** The app's public origin, e.g. `http://127.0.0.1:3000`: the redirect URIs are built from it. */
  baseUrl: string;
  /** Keep sessions in this Redis. Default: `REDIS_URL`, else an in-memory store (development only). */
  redisUrl?: string;
}

export interface DemoApp {
  app: Koa;
  /** Closes the session store (its Redis connection). */
  close(): Promise<void>;
}

/** The demo's look, on top of the examples' page (../shared/page.ts). */
const STYLE = `
  body { font: 16px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; padding: 0 1rem; color: #1d1d1f; }
  h1 { font-size: 1.6rem; margin-bottom: .25rem; }
  .providers { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
  section { border: 1px solid #d0d0d7; border-radius: 8px; padding: 1rem 1.25rem; }
  section h2 { margin-top: 0; font-size: 1.2rem; }
  pre { background: #f4f4f7; padding: .75rem; border-radius: 6px; overflow-x: auto; font-size: .85rem; }
  .actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
  form { margin: 0; }
  button, a.button { font: inherit; padding: .35rem .8rem; border-radius: 6px; border: 1px solid #888; background: #fff; color: inherit; text-decoration: none; cursor: pointer; }
  a.login { background: #2f5bd3; border-color: #2f5bd3; color: #fff; }
  code.scopes { background: #eef3e8; padding: .1rem .35rem; border-radius: 4px; }
  .muted { color: #666; }
`;

async function providerSection(ctx: Context, provider: OpenID, label: string): Promise<string> {
  const name = provider.name;
  const login = await provider.session(ctx);
  // A labelled region per provider: screen readers (and tests) can tell the two apart.
  const heading = `<section aria-labelledby="provider-${escapeHtml(name)}"><h2 id="provider-${escapeHtml(name)}">${escapeHtml(label)}</h2>`;
  if (!login) {
    return (
      `${heading}<p class="muted">Not logged in.</p>` +
      `<p><a class="button login" data-testid="login-${escapeHtml(name)}" href="${escapeHtml(provider.loginUrl('/'))}">` +
      `Log in with ${escapeHtml(label)}</a></p></section>`
    );
  }
  const who = login.claims.name ?? login.claims.preferred_username ?? login.claims.sub;
  const askEmail = login.scopes.includes('email')
    ? ''
    : `<form method="post" action="/more-scopes/${escapeHtml(name)}"><button type="submit">Ask for email too</button></form>`;
  return (
    heading +
    `<p>Logged in as <strong>${escapeHtml(who)}</strong>.</p>` +
    `<p>Granted scopes: <code class="scopes" data-testid="scopes-${escapeHtml(name)}">${escapeHtml(login.scopes.join(' '))}</code></p>` +
    `<p>ID token claims <span class="muted">(profile and email claims come from userinfo)</span>:</p><pre data-testid="claims-${escapeHtml(name)}">${escapeHtml(JSON.stringify(login.claims, null, 2))}</pre>` +
    `<div class="actions">${askEmail}` +
    `<a class="button" href="/userinfo/${escapeHtml(name)}">Show userinfo</a>` +
    `<form method="post" action="${escapeHtml(provider.options.routeLogout)}"><button type="submit">Log out here and at ${escapeHtml(label)}</button></form></div>` +
    `<p class="muted">${escapeHtml(label)} asks you to confirm, then sends you back here; your next login there asks for your password again.</p>` +
    `</section>`
  );
}

/**
 * Refuses a cross-origin form POST (a page elsewhere starting a login).
 * Browsers send `Origin` with every POST; clients that send none (curl, tests) are let through.
 */
function sameOriginPost(baseUrl: string): Middleware {
  const origin = new URL(baseUrl).origin;
  return async (ctx, next) => {
    const sent = ctx.get('origin');
    if (sent && sent !== origin) ctx.throw(403, 'cross-origin form post refused');
    await next();
  };
}

/** Builds the demo app. Construct it before the server computes `app.callback()`. */
export function createDemoApp(opts: DemoAppOptions): DemoApp {
  if (opts.providers.length === 0) throw new TypeError('createDemoApp(): "providers" must not be empty');
  const app = new Koa();
  // Its own key prefix, so the demo can share a Redis with other apps.
  const sessions = redisSession(app, { prefix: 'koa-session-openid-demo:sess:', redis: opts.redisUrl });
  app.use(sessions);

  const providers = opts.providers.map(
    (p) =>
      [
        new OpenID(app, {
          name: p.name,
          clientId: p.clientId,
          clientSecret: p.clientSecret,
          configuration: p.configuration,
          baseUrl: opts.baseUrl,
          allowInsecureRequests: true, // the dev providers run on http://127.0.0.1
          scopes: ['openid', 'profile'],
        }),
        p.label,
      ] as const,
  );
  const [first] = providers[0]!;

  const router = new Router();
  const checkOrigin = sameOriginPost(opts.baseUrl);

  router.get('/', async (ctx) => {
    const sections = (await Promise.all(providers.map(([provider, label]) => providerSection(ctx, provider, label)))).join('');
    sendPage(
      ctx,
      'koa-session-openid demo',
      `<p class="muted">Two OpenID providers, one server-side session. Log in with either or both; ` +
        `the dev providers accept any name and any password. ` +
        `<a href="/private">/private</a> needs a login with ${escapeHtml(providers[0]![1])}.</p>` +
        `<div class="providers">${sections}</div>`,
      { style: STYLE },
    );
  });

  for (const [provider] of providers) {
    const name = provider.name;

    router.post(`/more-scopes/${name}`, checkOrigin, async (ctx) => {
      try {
        await provider.login(ctx, { scopes: ['email'], returnTo: '/' });
      } catch (err) {
        if (!isOpenIDError(err)) throw err;
        await provider.renderError(ctx, err);
      }
    });

    router.get(`/userinfo/${name}`, provider.required(), async (ctx) => {
      let info;
      try {
        info = await provider.userInfo(ctx);
      } catch (err) {
        if (!isOpenIDError(err)) throw err;
        await provider.renderError(ctx, err);
        return;
      }
      sendPage(
        ctx,
        `Userinfo from ${name}`,
        `<pre data-testid="userinfo-${escapeHtml(name)}">${escapeHtml(JSON.stringify(info, null, 2))}</pre>` +
          `<p><a href="/">Back</a></p>`,
        { style: STYLE },
      );
    });
  }

  router.get('/private', first.required(), (ctx) => {
    const claims = ctx.state.user ?? {};
    sendPage(
      ctx,
      'Private page',
      `<p>Only for users logged in with ${escapeHtml(providers[0]![1])}. ` +
        `Hello, <strong>${escapeHtml(claims.name ?? claims.sub)}</strong>.</p><p><a href="/">Back</a></p>`,
      { style: STYLE },
    );
  });

  app.use(router.routes());
  app.use(router.allowedMethods());

  return {
    app,
    async close() {
      await sessions.close();
    },
  };
}
