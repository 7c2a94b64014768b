/**
 * examples/keycloak, end to end: the example app as it is, real Redis sessions, and a real
 * oidc-provider made to look like a Keycloak realm (./keycloak-realm.ts: `/realms/demo` issuer,
 * Keycloak's endpoint paths, Keycloak-shaped JWT access tokens with the roles, no consent page,
 * logout with an `id_token_hint` not confirmed by the user).
 * Walk: alice (realm role admin, client role reports) and bob (neither) log in → the home page
 * lists their roles → /admin and /reports: 200 for alice, 403 role_required for bob → "Log out"
 * goes to Keycloak's logout endpoint with id_token_hint and comes back logged out. Last, the
 * Docker setup: discovery read at another URL than the issuer (KEYCLOAK_INTERNAL_URL).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { decodeJwt, decodeProtectedHeader } from 'jose';

import { ADMIN_ROLE, CLIENT_ROLE, createKeycloakApp } from '../../examples/keycloak/app.js';
import { Browser } from '../support/http-client.js';
import { redisUrl } from '../support/redis.js';
import { decodeHtml, testId } from './html.js';
import { startKeycloakRealm, type KeycloakRealm } from './keycloak-realm.js';
import { listen } from './oidc-provider.js';

const REALM = 'demo';
const CLIENT_ID = 'koa-app';
const CLIENT_SECRET = 'koa-app-secret';
const MOUNT = `/realms/${REALM}`;
const HTML = { accept: 'text/html' };
const JSON_ACCEPT = { accept: 'application/json' };

const USERS = {
  alice: { name: 'Alice Admin', realmRoles: [ADMIN_ROLE, 'offline_access'], clientRoles: [CLIENT_ROLE] },
  bob: { name: 'Bob User', realmRoles: ['offline_access'], clientRoles: [] },
};

describe('examples/keycloak against a Keycloak-like oidc-provider', { timeout: 30_000 }, () => {
  let internalServer: Awaited<ReturnType<typeof listen>>;
  let appServer: Awaited<ReturnType<typeof listen>>;
  let dockerAppServer: Awaited<ReturnType<typeof listen>>;
  let kc: KeycloakRealm;
  let example: ReturnType<typeof createKeycloakApp>;
  let base: string;
  const browsers: Record<string, Browser> = {};
  /** Paths requested at the "internal" URL of the provider (the Docker variant). */
  const internalRequests: string[] = [];
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    internalServer = await listen();
    appServer = await listen();
    dockerAppServer = await listen();
    closers.push(internalServer.close, appServer.close, dockerAppServer.close);
    base = appServer.origin;
    const apps = [base, dockerAppServer.origin];
    kc = await startKeycloakRealm({
      realm: REALM,
      client: {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: apps.map((o) => `${o}/openid/keycloak/auth`),
        post_logout_redirect_uris: apps.map((o) => `${o}/openid/keycloak/logged-out`),
      },
      users: USERS,
    });
    closers.push(kc.close);
    internalServer.setHandler((req, res) => {
      internalRequests.push(req.url ?? '');
      kc.handle(req, res);
    });
    example = createKeycloakApp({ keycloakUrl: kc.url, realm: REALM, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: base, redisUrl: redisUrl() });
    example.app.silent = true;
    closers.push(example.close);
    appServer.setHandler(example.app.callback());
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
    // (The Docker variant read discovery at the internal URL: its auth endpoint has that origin.)
    assert.ok(urls.some((u) => new URL(u).pathname === new URL(kc.endpoints.auth).pathname), `went through Keycloak's auth endpoint: ${urls.join(' → ')}`);
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
    const toKeycloak = await browser.follow(`${base}${action}`, { form: {}, headers: { ...HTML, origin: base }, stopAt: kc.endpoints.logout });
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
      keycloakUrl: kc.url,
      internalUrl: internalServer.origin,
      realm: REALM,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      baseUrl: dockerAppServer.origin,
      redisUrl: redisUrl(),
    });
    docker.app.silent = true;
    closers.push(docker.close);
    dockerAppServer.setHandler(docker.app.callback());
    assert.equal(docker.keycloak.options.issuer, kc.issuer);
    assert.equal(docker.keycloak.options.configuration, `${internalServer.origin}${MOUNT}/.well-known/openid-configuration`);

    const { page } = await logIn('alice', dockerAppServer.origin);
    assert.equal(testId(page, 'realm-roles'), `${ADMIN_ROLE}, offline_access`);
    assert.ok(internalRequests.includes(`${MOUNT}/.well-known/openid-configuration`), internalRequests.join(', '));
  });
});
