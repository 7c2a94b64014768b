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

import { OpenID, isOpenIDError, keycloak, redisSession } from '../../src/index.js';
import { keycloakFromEnv, siteFromEnv } from '../shared/env.js';
import type { KeycloakClient, Site } from '../shared/options.js';
import { escapeHtml, sendPage } from '../shared/page.js';

/** The realm role that opens /admin. */
export const ADMIN_ROLE = 'admin';
/** The role of this app's own client (Keycloak: Clients → <client> → Roles) that opens /reports. */
export const CLIENT_ROLE = 'reports';

/** `baseUrl`: the redirect URI is `<baseUrl>/openid/keycloak/auth`. */
export interface KeycloakAppOptions extends Omit<KeycloakClient, 'url'>, Site {
  /** Keycloak as browsers reach it: `http://localhost:8080`. The issuer is `<keycloakUrl>/realms/<realm>`. */
  keycloakUrl: string;
}

/** The options from environment variables (`main.ts`; docker/compose.yml sets them). */
export function optionsFromEnv(env: NodeJS.ProcessEnv): KeycloakAppOptions {
  const { url, ...client } = keycloakFromEnv(env);
  const { baseUrl, redisUrl } = siteFromEnv(env);
  return { keycloakUrl: url, ...client, baseUrl, redisUrl };
}

export function createKeycloakApp(opts: KeycloakAppOptions): { app: Koa; keycloak: OpenID; close(): Promise<void> } {
  const app = new Koa();
  const sessions = redisSession(app, { redis: opts.redisUrl });
  app.use(sessions);

  const options = keycloak({
    url: opts.keycloakUrl,
    realm: opts.realm,
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
    baseUrl: opts.baseUrl,
    internalUrl: opts.internalUrl,
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
