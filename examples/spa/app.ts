/**
 * The single-page app example: one Koa app that serves a static page (plain JavaScript, no build)
 * and a JSON API protected by bearer tokens. The page logs in at the provider by itself, as a
 * public client (code + PKCE, or the implicit `id_token token` variant), and calls the API with
 * the access token. The server keeps no session: every API call is judged by its token alone.
 *
 * Routes:
 *   GET /             public/index.html (also the redirect_uri the page returns to)
 *   GET /app.js       public/app.js
 *   GET /style.css    public/style.css
 *   GET /config.json  what the page needs: issuer, client id, API resource, scopes
 *   GET /api/me       a valid access token for the API: `{ sub, scopes }`
 *   GET /api/admin    the same, and the token must carry `api:admin`
 */
import { readFileSync } from 'node:fs';

import Router from '@koa/router';
import Koa from 'koa';
import type { Context, Middleware } from 'koa';

import { OpenID, type BearerOptions } from '../../src/index.js';

export interface SpaAppOptions {
  /** The provider's issuer URL, e.g. `http://127.0.0.1:4000`. */
  issuer: string;
  /** The page's public client id at the provider. */
  clientId: string;
  /**
   * The API's RFC 8707 resource indicator, e.g. `http://127.0.0.1:3000/api`: the page asks for
   * tokens for it, and the API accepts only tokens whose `aud` is this value.
   */
  resource: string;
}

/** The scope that `GET /api/admin` requires on top of a valid token. */
export const ADMIN_SCOPE = 'api:admin';
/** The scope the page asks for at every login. */
export const READ_SCOPE = 'api:read';

const PUBLIC = new URL('./public/', import.meta.url);

/**
 * The page's Content-Security-Policy: scripts and styles only from this origin (no inline code,
 * no eval), network requests only to this origin and the provider, nothing may frame the page.
 */
function contentSecurityPolicy(issuer: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self' ${new URL(issuer).origin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Serves exactly the page's files, read once at startup: no path from the request ever reaches
 * the file system. `Referrer-Policy: no-referrer` keeps the authorization response (the `code` in
 * the query) out of `Referer` headers until the page has removed it from the address bar.
 */
function staticFiles(files: Record<string, { file: string; type: string }>, csp: string): Middleware {
  const loaded = new Map(
    Object.entries(files).map(([path, { file, type }]) => [path, { type, body: readFileSync(new URL(file, PUBLIC)) }]),
  );
  return async (ctx, next) => {
    const hit = loaded.get(ctx.path);
    if (!hit || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.set('Content-Security-Policy', csp);
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = hit.type;
    ctx.body = hit.body;
  };
}

function json(ctx: Context, body: unknown): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

/** Builds the example app. Construct it before the server computes `app.callback()`. */
export function createSpaApp(opts: SpaAppOptions): Koa {
  const app = new Koa();
  const csp = contentSecurityPolicy(opts.issuer);

  // This app only checks bearer tokens: it logs nobody in itself, so no login routes and no session.
  const provider = new OpenID(app, {
    name: 'api',
    routes: false,
    clientId: opts.clientId,
    configuration: opts.issuer,
    allowInsecureRequests: true, // the dev provider runs on http://127.0.0.1
  });
  // Only JWT access tokens (RFC 9068) for this API: verified locally with the provider's keys, no
  // introspection (a public client may not introspect anyway).
  const forApi: BearerOptions = { audience: opts.resource, algorithms: ['RS256'], introspection: false };

  const router = new Router();
  router.get('/config.json', (ctx) => {
    json(ctx, {
      issuer: opts.issuer,
      clientId: opts.clientId,
      resource: opts.resource,
      scopes: { read: READ_SCOPE, admin: ADMIN_SCOPE },
    });
  });
  router.get('/api/me', provider.bearer(forApi), (ctx) => {
    const { claims, scopes } = ctx.state.openid!;
    json(ctx, { sub: claims.sub, scopes });
  });
  router.get('/api/admin', provider.bearer({ ...forApi, scopes: [ADMIN_SCOPE] }), (ctx) => {
    const { claims, scopes } = ctx.state.openid!;
    json(ctx, { sub: claims.sub, scopes, admin: true });
  });

  app.use(
    staticFiles(
      {
        '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
        '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
        '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
      },
      csp,
    ),
  );
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
