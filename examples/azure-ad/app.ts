/**
 * Microsoft Entra ID (Azure AD), multi-tenant: work and school accounts log in through
 * `/organizations`, and only the tenants on the allow-list get in (any other: 403
 * `tenant_not_allowed`). The app knows its users by `tid` + `oid`; an admin page needs the app
 * role `Admin`; an API route takes access tokens that hold the delegated scope `access_as_user`.
 *
 * Routes (besides the provider's `/openid/azure/...`):
 *   GET /        a login link, or who is logged in
 *   GET /me      the user's tenant, object id and the app's key for them (login required)
 *   GET /admin   app role Admin required (403 role_required without it)
 *   GET /api/me  bearer token for this app's API with scope access_as_user (else 401, or 403 insufficient_scope)
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { JWTPayload } from 'jose';

import { OpenID, azureAD, redisSession } from '../../src/index.js';
import type { AzureClient, Site } from '../shared/options.js';
import { escapeHtml, sendPage } from '../shared/page.js';

/** `baseUrl`: register `<baseUrl>/openid/azure/auth` as a Web redirect URI. */
export interface AzureAdAppOptions extends AzureClient, Site {
  /** Tests only: a stand-in for `https://login.microsoftonline.com`, and plain http for it. */
  authority?: string;
  allowInsecureRequests?: boolean;
}

/**
 * The app's key for a user: tenant id + object id, both immutable GUIDs (`oid` alone is unique
 * within its tenant only). Never `email`, `upn` or `preferred_username`: they can be changed, in
 * some tenants by the users themselves, and an attacker's tenant can claim someone else's address
 * (the "nOAuth" account takeovers).
 */
export const userKey = (claims: JWTPayload): string => `${String(claims.tid)}/${String(claims.oid)}`;

export function createAzureAdApp(opts: AzureAdAppOptions): { app: Koa; close(): Promise<void> } {
  const app = new Koa();
  const sessions = redisSession(app, { prefix: 'example-azure-ad:', redis: opts.redisUrl });
  app.use(sessions);

  const azure = new OpenID(app, {
    ...azureAD({
      tenant: 'organizations',
      // Tokens of `/organizations` can come from any tenant: this list is the app's only gate.
      allowedTenants: opts.allowedTenants,
      clientId: opts.clientId,
      clientSecret: opts.clientSecret,
      baseUrl: opts.baseUrl,
      authority: opts.authority,
    }),
    allowInsecureRequests: opts.allowInsecureRequests ?? false,
  });

  const router = new Router();

  router.get('/', azure.optional(), (ctx) => {
    const user = ctx.state.user;
    sendPage(
      ctx,
      'Entra ID example',
      user
        ? `<p>Logged in as ${escapeHtml(user.name)}. <a href="/me">Your account</a> <a href="/admin">Admin</a></p>`
        : `<p><a href="${escapeHtml(azure.loginUrl('/me'))}">Sign in with Microsoft</a></p>`,
    );
  });

  router.get('/me', azure.required(), (ctx) => {
    const claims = ctx.state.user!;
    sendPage(
      ctx,
      String(claims.name ?? 'Your account'),
      `<dl>` +
        `<dt>Tenant (tid)</dt><dd data-testid="tid">${escapeHtml(claims.tid)}</dd>` +
        `<dt>Object id (oid)</dt><dd data-testid="oid">${escapeHtml(claims.oid)}</dd>` +
        `<dt>User key</dt><dd data-testid="key">${escapeHtml(userKey(claims))}</dd></dl>`,
    );
  });

  // App roles are assigned in the portal ("Enterprise applications" → users and groups) and come in the `roles` claim.
  router.get('/admin', azure.requireAppRole('Admin'), (ctx) => {
    sendPage(ctx, 'Admin', `<p>Hello ${escapeHtml(ctx.state.user!.name)}, you have the app role Admin.</p>`);
  });

  // Access tokens for this app's API ("Expose an API": scope access_as_user). A v2 token's `aud` is
  // the client id (a v1 token's is the Application ID URI, `api://<client id>`); `scp` holds the
  // delegated scopes. The tenant allow-list applies here too.
  router.get('/api/me', azure.bearer({ audience: opts.clientId, scopes: ['access_as_user'] }), (ctx) => {
    const claims = ctx.state.user!;
    ctx.body = { key: userKey(claims), tid: claims.tid, oid: claims.oid, scp: claims.scp };
  });

  app.use(router.routes());
  return { app, close: () => sessions.close() };
}
