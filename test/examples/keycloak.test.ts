/**
 * examples/keycloak, end to end: the example app as it is, real Redis sessions, and a real
 * oidc-provider (the devDependency, in-process) made to look like a Keycloak realm:
 * - issuer `http://127.0.0.1:PORT/realms/demo` (oidc-provider mounted under that path), and
 *   Keycloak's endpoint paths (`/protocol/openid-connect/auth`, `/token`, `/certs`, `/logout`);
 * - access tokens are JWTs (a default resource indicator whose resource server takes JWTs) that
 *   its JWT customizer reshapes as Keycloak's: header `typ: JWT`, payload `typ: Bearer`, `azp` the
 *   client, `aud: account`, no `client_id`, `realm_access.roles` and `resource_access.<client>.roles`;
 *   the ID token carries the profile claims and no roles;
 * - no consent page, and RP-initiated logout with an `id_token_hint` is not confirmed by the user
 *   (its logout page posts itself), as in Keycloak 18+.
 * Walk: alice (realm role admin, client role reports) and bob (neither) log in → the home page
 * lists their roles → /admin and /reports: 200 for alice, 403 role_required for bob → "Log out"
 * goes to Keycloak's logout endpoint with id_token_hint and comes back logged out. Last, the
 * Docker setup: discovery read at another URL than the issuer (KEYCLOAK_INTERNAL_URL).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import type Koa from 'koa';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';

import { ADMIN_ROLE, CLIENT_ROLE, createKeycloakApp } from '../../examples/keycloak/app.js';
import { Browser } from '../support/http-client.js';
import { redisUrl } from '../support/redis.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const REALM = 'demo';
const CLIENT_ID = 'koa-app';
const CLIENT_SECRET = 'koa-app-secret';
const MOUNT = `/realms/${REALM}`;
const OIDC = '/protocol/openid-connect';
/** The resource indicator every token is for by default (a JWT resource server), its audience Keycloak's `account`. */
const ACCOUNT_RESOURCE = 'urn:keycloak-test:account';
const HTML = { accept: 'text/html' };
const JSON_ACCEPT = { accept: 'application/json' };

const USERS: Record<string, { name: string; realmRoles: string[]; clientRoles: string[] }> = {
  alice: { name: 'Alice Admin', realmRoles: [ADMIN_ROLE, 'offline_access'], clientRoles: [CLIENT_ROLE] },
  bob: { name: 'Bob User', realmRoles: ['offline_access'], clientRoles: [] },
};

/** What the test uses of oidc-provider (it ships no type declarations). */
interface OidcProvider {
  callback(): Handler;
  on(event: string, listener: (...args: any[]) => void): unknown;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{
    prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> } };
    params: { client_id: string };
    session?: { accountId: string };
    grantId?: string;
  }>;
  interactionResult(req: IncomingMessage, res: ServerResponse, result: object, options?: { mergeWithLastSubmission?: boolean }): Promise<string>;
  Grant: {
    new (init: { accountId: string; clientId: string }): { addOIDCScope(s: string): void; addOIDCClaims(c: string[]): void; addResourceScope(i: string, s: string): void; save(): Promise<string> };
    find(id: string): Promise<{ addOIDCScope(s: string): void; addOIDCClaims(c: string[]): void; addResourceScope(i: string, s: string): void; save(): Promise<string> } | undefined>;
  };
}
interface OidcProviderModule {
  default: new (issuer: string, configuration: object) => OidcProvider;
  errors: { InvalidTarget: new () => Error };
}

/** oidc-provider prints development notices (Node 20, in-memory adapter) on import and construction. */
async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const { warn } = console;
  console.warn = () => {};
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

// @ts-ignore -- no type declarations: OidcProviderModule says what is used.
const oidc = (await quietly(() => import('oidc-provider'))) as OidcProviderModule;

/** An http server on a free port of 127.0.0.1 whose handler is set later (URLs need the port first). */
async function listen(): Promise<{ origin: string; handle(h: Handler): void; close(): Promise<void> }> {
  let handler: Handler | undefined;
  const server = createServer((req, res) => (handler ? handler(req, res) : res.writeHead(503).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    handle: (h) => void (handler = h),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Keycloak's access token from oidc-provider's (RFC 9068-style) one: `typ: JWT` header, `typ:
 * Bearer`, `azp` instead of `client_id`, the session id, and the user's realm and client roles.
 */
function keycloakShape(_ctx: unknown, token: { accountId?: string; sid?: string }, jwt: { header?: object; payload: Record<string, unknown> }): void {
  const { client_id: clientId, scope: _scope, ...claims } = jwt.payload;
  const user = USERS[token.accountId!]!;
  jwt.header = { typ: 'JWT' };
  jwt.payload = {
    ...claims,
    typ: 'Bearer',
    azp: clientId,
    ...(token.sid ? { sid: token.sid } : {}),
    scope: 'openid profile email',
    preferred_username: token.accountId,
    realm_access: { roles: user.realmRoles },
    resource_access: {
      ...(user.clientRoles.length ? { [clientId as string]: { roles: user.clientRoles } } : {}),
      account: { roles: ['manage-account', 'view-profile'] },
    },
  };
}

interface FakeKeycloak {
  issuer: string;
  handle: Handler;
  /** The account the next login logs in. */
  signInAs(user: string): void;
  /** The token endpoint's answers, in order. */
  issued: Array<{ access_token: string; id_token: string }>;
}

async function startKeycloakLike(origin: string, appOrigins: string[]): Promise<FakeKeycloak> {
  const issuer = `${origin}${MOUNT}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const key = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  let account: string | undefined;
  const issued: FakeKeycloak['issued'] = [];

  const provider = await quietly(
    () =>
      new oidc.default(issuer, {
        clients: [
          {
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
            redirect_uris: appOrigins.map((o) => `${o}/openid/keycloak/auth`),
            post_logout_redirect_uris: appOrigins.map((o) => `${o}/openid/keycloak/logged-out`),
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
        ],
        jwks: { keys: [key] },
        cookies: { keys: ['keycloak-like-test-cookie-key'] },
        async findAccount(_ctx: unknown, sub: string) {
          const user = USERS[sub];
          return user && { accountId: sub, claims: async () => ({ sub, name: user.name, preferred_username: sub, email: `${sub}@example.test` }) };
        },
        scopes: ['openid', 'profile', 'email'],
        claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
        // Keycloak puts the profile and email claims into the ID token.
        conformIdTokenClaims: false,
        routes: {
          authorization: `${OIDC}/auth`,
          token: `${OIDC}/token`,
          jwks: `${OIDC}/certs`,
          userinfo: `${OIDC}/userinfo`,
          end_session: `${OIDC}/logout`,
        },
        features: {
          devInteractions: { enabled: false },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => ACCOUNT_RESOURCE,
            useGrantedResource: () => true,
            getResourceServerInfo(_ctx: unknown, indicator: string) {
              if (indicator !== ACCOUNT_RESOURCE) throw new oidc.errors.InvalidTarget();
              return { scope: '', audience: 'account', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
            },
          },
          rpInitiatedLogout: {
            enabled: true,
            // Keycloak logs out at once when given an id_token_hint: the confirmation posts itself.
            async logoutSource(ctx: Koa.Context, form: string) {
              ctx.type = 'html';
              ctx.body = `<!doctype html><html><body>${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')}<script>document.forms[0].submit()</script></body></html>`;
            },
          },
        },
        formats: { customizers: { jwt: keycloakShape } },
        ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, Interaction: 600, Session: 3600, Grant: 3600 },
        interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `${MOUNT}/interaction/${interaction.uid}` },
        async renderError(ctx: Koa.Context, out: Record<string, string>) {
          ctx.type = 'json';
          ctx.body = out;
        },
      }),
  );
  provider.on('grant.success', (ctx: Koa.Context) => issued.push(ctx.body as FakeKeycloak['issued'][number]));

  /** No pages: a login finishes as `account`; consent (Keycloak asks none here) grants what is missing. */
  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    let result: object;
    if (details.prompt.name === 'login') {
      assert.ok(account, 'signInAs() before logging in');
      result = { login: { accountId: account } };
    } else {
      assert.equal(details.prompt.name, 'consent');
      const grant = (details.grantId && (await provider.Grant.find(details.grantId))) || new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      result = { consent: { grantId: await grant.save() } };
    }
    const to = await provider.interactionResult(req, res, result, { mergeWithLastSubmission: details.prompt.name === 'consent' });
    res.writeHead(303, { location: to }).end();
  }

  const callback = provider.callback();
  const handle: Handler = (req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(`${MOUNT}/`)) return void res.writeHead(404).end();
    if (req.method === 'GET' && url.startsWith(`${MOUNT}/interaction/`)) {
      interaction(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
      return;
    }
    // Mounted under /realms/demo: oidc-provider sees its own paths, `originalUrl` tells the mount.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
    req.url = url.slice(MOUNT.length);
    callback(req, res);
  };
  return { issuer, handle, signInAs: (user) => void (account = user), issued };
}

function decodeHtml(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
  return text.replace(/&(#39|[a-z]+);/g, (entity, name: string) => named[name] ?? entity);
}

/** The text of the element with `data-testid="<id>"`, or `undefined`. */
function testId(html: string, id: string): string | undefined {
  const match = new RegExp(`<(\\w+)[^>]*\\bdata-testid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return match ? decodeHtml(match[2]!) : undefined;
}

describe('examples/keycloak against a Keycloak-like oidc-provider', { timeout: 30_000 }, () => {
  let opServer: Awaited<ReturnType<typeof listen>>;
  let internalServer: Awaited<ReturnType<typeof listen>>;
  let appServer: Awaited<ReturnType<typeof listen>>;
  let dockerAppServer: Awaited<ReturnType<typeof listen>>;
  let kc: FakeKeycloak;
  let example: ReturnType<typeof createKeycloakApp>;
  let base: string;
  const browsers: Record<string, Browser> = {};
  /** Paths requested at the "internal" URL of the provider (the Docker variant). */
  const internalRequests: string[] = [];
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    opServer = await listen();
    internalServer = await listen();
    appServer = await listen();
    dockerAppServer = await listen();
    closers.push(opServer.close, internalServer.close, appServer.close, dockerAppServer.close);
    base = appServer.origin;
    kc = await startKeycloakLike(opServer.origin, [base, dockerAppServer.origin]);
    opServer.handle(kc.handle);
    internalServer.handle((req, res) => {
      internalRequests.push(req.url ?? '');
      kc.handle(req, res);
    });
    example = createKeycloakApp({ keycloakUrl: opServer.origin, realm: REALM, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: base, redisUrl: redisUrl() });
    example.app.silent = true;
    closers.push(example.close);
    appServer.handle(example.app.callback());
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  /** From the home page's "Log in with Keycloak" link through the provider and back; returns the home page. */
  async function logIn(user: string, origin = base): Promise<{ browser: Browser; page: string }> {
    const browser = new Browser();
    const home = await (await browser.get(`${origin}/`, { headers: HTML })).text();
    assert.match(home, /Not logged in/);
    const href = /<a href="([^"]*)">Log in with Keycloak<\/a>/.exec(home)?.[1];
    assert.equal(href, '/openid/keycloak/login?returnTo=%2F');
    kc.signInAs(user);
    const { response, urls } = await browser.follow(new URL(decodeHtml(href!), origin), { headers: HTML, navigation: true });
    assert.equal(response.status, 200, urls.join(' → '));
    assert.equal(urls.at(-1), `${origin}/`);
    assert.ok(urls.some((u) => new URL(u).pathname === `${MOUNT}${OIDC}/auth`), `went through Keycloak's auth endpoint: ${urls.join(' → ')}`);
    return { browser, page: await response.text() };
  }

  const status = async (browser: Browser, path: string, headers: Record<string, string>) => {
    const res = await browser.get(`${base}${path}`, { headers });
    return { status: res.status, body: await res.text() };
  };

  test('alice logs in; the token endpoint answered with Keycloak-shaped tokens', async () => {
    const { browser, page } = await logIn('alice');
    browsers.alice = browser;
    assert.equal(testId(page, 'user'), 'alice');

    const { access_token: accessToken, id_token: idToken } = kc.issued.at(-1)!;
    assert.equal(decodeProtectedHeader(accessToken).typ, 'JWT');
    const at = decodeJwt(accessToken);
    assert.equal(at.iss, kc.issuer);
    assert.equal(at.typ, 'Bearer');
    assert.equal(at.azp, CLIENT_ID);
    assert.equal(at.aud, 'account');
    assert.equal(at.client_id, undefined);
    assert.deepEqual(at.realm_access, { roles: [ADMIN_ROLE, 'offline_access'] });
    assert.deepEqual(at.resource_access, { [CLIENT_ID]: { roles: [CLIENT_ROLE] }, account: { roles: ['manage-account', 'view-profile'] } });
    const id = decodeJwt(idToken);
    assert.equal(id.preferred_username, 'alice');
    assert.equal(id.realm_access, undefined, 'roles are in the access token only');
  });

  test('the home page shows alice\'s realm roles and this app\'s client roles, read from the access token', async () => {
    const { status: code, body } = await status(browsers.alice!, '/', HTML);
    assert.equal(code, 200);
    assert.equal(testId(body, 'realm-roles'), `${ADMIN_ROLE}, offline_access`);
    assert.equal(testId(body, 'client-roles'), CLIENT_ROLE);
  });

  test('alice may see /admin (realm role) and /reports (client role)', async () => {
    const admin = await status(browsers.alice!, '/admin', HTML);
    assert.equal(admin.status, 200);
    assert.match(admin.body, /<h1>Admin page<\/h1>/);
    const reports = await status(browsers.alice!, '/reports', HTML);
    assert.equal(reports.status, 200);
    assert.match(reports.body, /<h1>Reports<\/h1>/);
  });

  test('bob logs in, has neither role: 403 role_required on /admin and /reports', async () => {
    const { browser, page } = await logIn('bob');
    browsers.bob = browser;
    assert.equal(testId(page, 'user'), 'bob');
    assert.equal(testId(page, 'realm-roles'), 'offline_access');
    assert.equal(testId(page, 'client-roles'), '(none)');
    for (const path of ['/admin', '/reports']) {
      const api = await status(browser, path, JSON_ACCEPT);
      assert.equal(api.status, 403, path);
      assert.equal((JSON.parse(api.body) as { error: string }).error, 'role_required', path);
      const page = await status(browser, path, HTML);
      assert.equal(page.status, 403, path);
      assert.doesNotMatch(page.body, /<h1>(Admin page|Reports)<\/h1>/);
    }
  });

  test('without a login the guarded pages send browsers to the login, API callers get 401', async () => {
    const anonymous = new Browser();
    const page = await anonymous.get(`${base}/admin`, { headers: HTML });
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), '/openid/keycloak/login?returnTo=%2Fadmin');
    const api = await status(anonymous, '/reports', JSON_ACCEPT);
    assert.equal(api.status, 401);
    assert.equal((JSON.parse(api.body) as { error: string }).error, 'login_required');
  });

  test('"Log out" goes to Keycloak\'s logout endpoint with id_token_hint and comes back logged out', async () => {
    const browser = browsers.alice!;
    const home = await (await browser.get(`${base}/`, { headers: HTML })).text();
    const action = /<form method="post" action="([^"]*)"><button type="submit">Log out/.exec(home)?.[1];
    assert.equal(action, '/openid/keycloak/logout');
    const aliceIdToken = kc.issued.find((t) => decodeJwt(t.id_token).sub === 'alice')!.id_token;

    // The browser's form POST carries the app's Origin.
    const toKeycloak = await browser.follow(`${base}${action}`, { form: {}, headers: { ...HTML, origin: base }, stopAt: `${kc.issuer}${OIDC}/logout` });
    assert.ok(toKeycloak.stoppedAt, `stopped at Keycloak's logout endpoint: ${toKeycloak.urls.join(' → ')}`);
    const params = toKeycloak.stoppedAt.searchParams;
    assert.equal(params.get('id_token_hint'), aliceIdToken);
    assert.equal(params.get('client_id'), CLIENT_ID);
    assert.equal(params.get('post_logout_redirect_uri'), `${base}/openid/keycloak/logged-out`);
    assert.ok(params.get('state'));

    const { response, urls } = await browser.follow(toKeycloak.stoppedAt, { headers: HTML, navigation: true });
    assert.equal(response.status, 200, urls.join(' → '));
    assert.ok(urls.some((u) => u.startsWith(`${base}/openid/keycloak/logged-out?state=`)), urls.join(' → '));
    assert.equal(urls.at(-1), `${base}/`);
    assert.match(await response.text(), /Not logged in/);
    assert.equal((await status(browser, '/admin', JSON_ACCEPT)).status, 401);
    // Bob's session is his own.
    assert.equal(testId((await status(browsers.bob!, '/', HTML)).body, 'user'), 'bob');
  });

  test('Docker setup: discovery at KEYCLOAK_INTERNAL_URL, the issuer still the public URL', async () => {
    const docker = createKeycloakApp({
      keycloakUrl: opServer.origin,
      internalUrl: internalServer.origin,
      realm: REALM,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      baseUrl: dockerAppServer.origin,
      redisUrl: redisUrl(),
    });
    docker.app.silent = true;
    closers.push(docker.close);
    dockerAppServer.handle(docker.app.callback());
    assert.equal(docker.keycloak.options.issuer, kc.issuer);
    assert.equal(docker.keycloak.options.configuration, `${internalServer.origin}${MOUNT}/.well-known/openid-configuration`);

    const { page } = await logIn('alice', dockerAppServer.origin);
    assert.equal(testId(page, 'realm-roles'), `${ADMIN_ROLE}, offline_access`);
    assert.ok(internalRequests.includes(`${MOUNT}/.well-known/openid-configuration`), internalRequests.join(', '));
  });
});
