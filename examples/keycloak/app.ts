/**
 * Keycloak login with roles: the `keycloak()` preset, sessions in Redis, and pages guarded by a
 * realm role and by a role of this app's client. Keycloak puts roles in the access token, so the
 * library reads them there (verified), not from the ID token.
 *
 *   GET  /         who you are and your roles, or a login link
 *   GET  /admin    realm role "admin" required            (403 role_required without it)
 *   GET  /reports  client role "reports" of this app required
 *   POST /openid/keycloak/logout   (the library's route) logs out here, then at Keycloak
 *
 * `main.ts` starts it from environment variables; docker/ runs it next to a real Keycloak.
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { Context } from 'koa';

import { OpenID, isOpenIDError, keycloak, redisSession } from '../../src/index.js';

/** The realm role that opens /admin. */
export const ADMIN_ROLE = 'admin';
/** The role of this app's own client (Keycloak: Clients → <client> → Roles) that opens /reports. */
export const CLIENT_ROLE = 'reports';

export interface KeycloakAppOptions {
  /** Keycloak as browsers reach it: `http://localhost:8080`. The issuer is `<url>/realms/<realm>`. */
  keycloakUrl: string;
  realm: string;
  clientId: string;
  clientSecret: string;
  /** The app's public origin: the redirect URI is `<baseUrl>/openid/keycloak/auth`. */
  baseUrl: string;
  /** Default: `REDIS_URL`, else an in-memory store (development only). */
  redisUrl?: string;
  /**
   * Keycloak as this app reaches it, when that differs (Docker: `http://keycloak:8080`). Discovery
   * is read there; the issuer stays `<keycloakUrl>/realms/<realm>` (Keycloak's
   * `KC_HOSTNAME_BACKCHANNEL_DYNAMIC` then names this URL for the token endpoint and the keys).
   */
  internalUrl?: string;
}

/** The options from environment variables (`main.ts`; docker/compose.yml sets them). */
export function optionsFromEnv(env: NodeJS.ProcessEnv): KeycloakAppOptions {
  const required = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set (see docker/README.md)`);
    return value;
  };
  return {
    keycloakUrl: required('KEYCLOAK_URL'),
    realm: required('KEYCLOAK_REALM'),
    clientId: required('KEYCLOAK_CLIENT_ID'),
    clientSecret: required('KEYCLOAK_CLIENT_SECRET'),
    baseUrl: env.BASE_URL || 'http://localhost:3000',
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    ...(env.KEYCLOAK_INTERNAL_URL ? { internalUrl: env.KEYCLOAK_INTERNAL_URL } : {}),
  };
}

const escapeHtml = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function sendPage(ctx: Context, title: string, body: string): void {
  ctx.set('Cache-Control', 'no-store'); // personal data
  ctx.type = 'html';
  ctx.body =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}</style></head>` +
    `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

export function createKeycloakApp(opts: KeycloakAppOptions): { app: Koa; keycloak: OpenID; close(): Promise<void> } {
  const app = new Koa();
  const sessions = redisSession(app, opts.redisUrl ? { redis: opts.redisUrl } : {});
  app.use(sessions);

  const options = keycloak({
    url: opts.keycloakUrl,
    realm: opts.realm,
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
    baseUrl: opts.baseUrl,
    ...(opts.internalUrl ? { internalUrl: opts.internalUrl } : {}),
    // A local Keycloak in dev mode speaks plain http. Never use http:// in production.
    allowInsecureRequests: new URL(opts.keycloakUrl).protocol === 'http:',
  });
  const kc = new OpenID(app, options);

  const router = new Router();

  router.get('/', kc.optional(), async (ctx) => {
    const user = ctx.state.user;
    if (!user) {
      return sendPage(ctx, 'Keycloak example', `<p>Not logged in.</p><p><a href="${escapeHtml(kc.loginUrl('/'))}">Log in with Keycloak</a></p>`);
    }
    let roles;
    try {
      roles = await kc.roles(ctx); // from the verified access token
    } catch (err) {
      if (!isOpenIDError(err)) throw err;
      return kc.renderError(ctx, err);
    }
    const list = (names: string[] = []) => escapeHtml(names.join(', ') || '(none)');
    sendPage(
      ctx,
      'Keycloak example',
      `<p>Logged in as <strong data-testid="user">${escapeHtml(user.preferred_username ?? user.sub)}</strong>.</p>` +
        `<p>Realm roles: <span data-testid="realm-roles">${list(roles.realm)}</span></p>` +
        `<p>Roles of this app (${escapeHtml(opts.clientId)}): <span data-testid="client-roles">${list(roles.clients[opts.clientId])}</span></p>` +
        `<ul><li><a href="/admin">Admin page</a> (realm role "${ADMIN_ROLE}")</li>` +
        `<li><a href="/reports">Reports</a> (client role "${CLIENT_ROLE}")</li></ul>` +
        `<form method="post" action="${escapeHtml(kc.options.routeLogout)}"><button type="submit">Log out (here and at Keycloak)</button></form>`,
    );
  });

  router.get('/admin', kc.requireRole(ADMIN_ROLE), (ctx) => {
    sendPage(ctx, 'Admin page', `<p>Only users with the realm role "${ADMIN_ROLE}" see this.</p><p><a href="/">Home</a></p>`);
  });

  router.get('/reports', kc.requireRole(CLIENT_ROLE, { client: true }), (ctx) => {
    sendPage(ctx, 'Reports', `<p>Only users with the role "${CLIENT_ROLE}" of the client "${escapeHtml(opts.clientId)}" see this.</p><p><a href="/">Home</a></p>`);
  });

  app.use(router.routes());
  app.use(router.allowedMethods());
  return { app, keycloak: kc, close: () => sessions.close() };
}
