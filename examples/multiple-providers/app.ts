/**
 * Two providers in one app and one session: Keycloak (the `keycloak()` preset) and Microsoft Entra
 * ID (`azureAD()`, multi-tenant: work and school accounts of the allowed tenants). A browser can be
 * logged in with either, or with both at once; logging out of one keeps the other.
 *
 * Each provider's routes are named after it (instead of the library's `/openid/<name>/...`):
 *
 *   /login/keycloak   /auth/keycloak   /logout/keycloak   /logged-out/keycloak   /backchannel-logout/keycloak
 *   /login/azure      /auth/azure      /logout/azure      /logged-out/azure      /frontchannel-logout/azure
 *
 * Pages:
 *   GET /        each provider: who is logged in there and a "Log out" link, or a "Log in" link
 *   GET /either  needs a login with either provider (without one: a page offering both)
 *   GET /both    needs both logins: sends the browser to each missing login in turn
 *
 * "Log out" (`/logout/<name>`, a plain link: the library logs out only for a click on the app's own
 * page) ends that provider's login here and at the provider, and keeps the other one.
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { JWTPayload } from 'jose';

import { OpenID, azureAD, keycloak, redisSession } from '../../src/index.js';
import type { AzureClient, KeycloakClient, Site } from '../shared/options.js';
import { escapeHtml, sendPage } from '../shared/page.js';

export interface MultipleProvidersAppOptions extends Site {
  keycloak: KeycloakClient;
  /** `authority`: tests only, a stand-in for `https://login.microsoftonline.com`. */
  azure: AzureClient & { authority?: string };
}

/**
 * The routes of the provider `name`. Register at the provider: the redirect URI
 * `<baseUrl>/auth/<name>`, the post-logout redirect URI `<baseUrl>/logged-out/<name>`, and the
 * back-channel (Keycloak) or front-channel (Entra ID) logout URL.
 */
export function routesOf(name: string) {
  return {
    routeLogin: `/login/${name}`,
    routeAuth: `/auth/${name}`,
    routeLogout: `/logout/${name}`,
    routeLoggedOut: `/logged-out/${name}`,
    routeBackchannelLogout: `/backchannel-logout/${name}`,
    routeFrontchannelLogout: `/frontchannel-logout/${name}`,
  };
}

/** Plain http: a local Keycloak in dev mode, or the tests' stand-ins. Never in production. */
const isHttp = (url: string | undefined) => url !== undefined && new URL(url).protocol === 'http:';

/** How a page names the user: Entra ID and Keycloak both send `name`. */
const displayName = (claims: JWTPayload) => String(claims.name ?? claims.preferred_username ?? claims.sub);

export function createMultipleProvidersApp(opts: MultipleProvidersAppOptions): { app: Koa; close(): Promise<void> } {
  const app = new Koa();
  // One session for both providers: each keeps its own login in it, under its name.
  const sessions = redisSession(app, { prefix: 'example-multiple-providers:', redis: opts.redisUrl });
  app.use(sessions);

  const kc = new OpenID(
    app,
    keycloak({
      ...opts.keycloak, // url, realm, clientId, clientSecret
      ...routesOf('keycloak'),
      baseUrl: opts.baseUrl,
      allowInsecureRequests: isHttp(opts.keycloak.url),
    }),
  );
  const azure = new OpenID(
    app,
    azureAD({
      // Work and school accounts of any tenant; `allowedTenants` (in opts.azure) is the app's only gate.
      tenant: 'organizations',
      ...opts.azure, // clientId, clientSecret, allowedTenants
      ...routesOf('azure'),
      baseUrl: opts.baseUrl,
      allowInsecureRequests: isHttp(opts.azure.authority),
    }),
  );
  const providers = [
    { provider: kc, label: 'Keycloak' },
    { provider: azure, label: 'Microsoft Entra ID' },
  ];
  const labelOf = (name: string) => providers.find((p) => p.provider.name === name)!.label;
  const loginLinks = (returnTo: string) =>
    providers.map(({ provider, label }) => `<a data-testid="login-${provider.name}" href="${escapeHtml(provider.loginUrl(returnTo))}">Log in with ${label}</a>`).join(' ');

  const router = new Router();

  router.get('/', async (ctx) => {
    const rows: string[] = [];
    for (const { provider, label } of providers) {
      const login = await provider.session(ctx); // this provider's login in the session, or undefined
      rows.push(
        login
          ? `<li>${label}: logged in as <strong data-testid="user-${provider.name}">${escapeHtml(displayName(login.claims))}</strong> ` +
              `<a data-testid="logout-${provider.name}" href="${escapeHtml(provider.options.routeLogout)}">Log out</a></li>`
          : `<li>${label}: not logged in <a data-testid="login-${provider.name}" href="${escapeHtml(provider.loginUrl('/'))}">Log in</a></li>`,
      );
    }
    sendPage(ctx, 'Two providers, one session', `<ul>${rows.join('')}</ul><p><a href="/either">Needs either login</a> · <a href="/both">Needs both logins</a></p>`);
  });

  // optional() puts a provider's login into ctx.state when there is one. Both guards write the same
  // ctx.state.user and ctx.state.openid: with both logins, the later guard's (Entra ID's) stays.
  router.get('/either', kc.optional(), azure.optional(), (ctx) => {
    const openid = ctx.state.openid;
    if (!openid) {
      ctx.status = 401;
      return sendPage(ctx, 'Please log in', `<p>This page needs a login with either provider.</p><p>${loginLinks(ctx.originalUrl)}</p>`);
    }
    sendPage(
      ctx,
      'Either login',
      `<p>Hello <strong data-testid="user">${escapeHtml(displayName(openid.claims))}</strong>, ` +
        `logged in with <span data-testid="provider">${labelOf(openid.provider)}</span>.</p><p><a href="/">Home</a></p>`,
    );
  });

  // Both guards in a row: a browser without the Keycloak login is sent to it, comes back, and is
  // then sent to the Entra ID login if that is missing too.
  router.get('/both', kc.required(), azure.required(), async (ctx) => {
    // Both guards let the request through: both logins are in the session.
    const atKeycloak = (await kc.session(ctx))!;
    const atAzure = (await azure.session(ctx))!;
    sendPage(
      ctx,
      'Both logins',
      `<p>Keycloak: <strong data-testid="user-keycloak">${escapeHtml(displayName(atKeycloak.claims))}</strong>; ` +
        `Entra ID: <strong data-testid="user-azure">${escapeHtml(displayName(atAzure.claims))}</strong> ` +
        `(tenant <span data-testid="tid">${escapeHtml(atAzure.claims.tid)}</span>).</p><p><a href="/">Home</a></p>`,
    );
  });

  app.use(router.routes());
  return { app, close: () => sessions.close() };
}
