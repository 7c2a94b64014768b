/**
 * examples/multiple-providers against two lookalikes at once: a Keycloak realm
 * (./keycloak-realm.ts) and multi-tenant Entra ID (./entra-id.ts). One browser logs in with
 * Keycloak, then with Entra ID: both logins sit in one session (one cookie), each provider on its
 * own routes (`/login/keycloak`, `/auth/azure`, ...; the library's `/openid/<name>/...` are not
 * served). /either works with one login, /both only with both. Logging out of one provider (here
 * and at the provider, or Keycloak ending the session by back-channel) keeps the other's login.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createMultipleProvidersApp } from '../../examples/multiple-providers/app.js';
import { Browser } from '../support/http-client.js';
import { redisUrl } from '../support/redis.js';
import { startEntraId, type EntraId } from './entra-id.js';
import { testId, testIdHref } from './html.js';
import { startKeycloakRealm, type KeycloakRealm } from './keycloak-realm.js';
import { listen } from './oidc-provider.js';

const HTML = { accept: 'text/html' };
/** What a browser sends when the user clicks a link of the app's own page. */
const CLICK = { ...HTML, 'sec-fetch-site': 'same-origin' };
const KEYCLOAK = { realm: 'demo', clientId: 'koa-app', clientSecret: 'koa-app-secret' };
const AZURE = { clientId: '5d0c2b7e-3f1a-4c8d-9e6b-7a2f1d4c8e30', clientSecret: 'azure-app-secret-0123456789' };
const CONTOSO = '0c7e5d1a-8b2f-4a63-9e41-5f8d2c7b3a10';
const FABRIKAM = 'e4a9b2c7-1d3f-4b8e-a6c5-9f0e7d2b4c81';
const ALICE_ENTRA = { upn: 'alice@contoso.example', name: 'Alice Contoso', oid: '7b1e4c2d-9a3f-4e8b-b5d6-1c0f2a9e8d73' };
const MALLORY = { upn: 'mallory@fabrikam.example', name: 'Mallory', oid: '9c3a7e5f-2b1d-4a8c-9e6f-0d4b8a2c7e15' };

describe('examples/multiple-providers: Keycloak and Entra ID in one session', () => {
  let server: Awaited<ReturnType<typeof listen>>;
  let base: string;
  let kc: KeycloakRealm;
  let entra: EntraId;
  let example: ReturnType<typeof createMultipleProvidersApp>;
  /** Every request the app answered: `GET /auth/keycloak 302`. */
  const answered: string[] = [];
  const browser = new Browser();

  before(async () => {
    server = await listen();
    base = server.origin;
    kc = await startKeycloakRealm({
      realm: KEYCLOAK.realm,
      client: {
        client_id: KEYCLOAK.clientId,
        client_secret: KEYCLOAK.clientSecret,
        redirect_uris: [`${base}/auth/keycloak`],
        post_logout_redirect_uris: [`${base}/logged-out/keycloak`],
        backchannel_logout_uri: `${base}/backchannel-logout/keycloak`,
        backchannel_logout_session_required: true,
      },
      users: { alice: { name: 'Alice Keycloak', realmRoles: [], clientRoles: [] } },
    });
    entra = await startEntraId({
      app: { ...AZURE, redirectUri: `${base}/auth/azure`, postLogoutRedirectUri: `${base}/logged-out/azure` },
      apiScopes: [],
      tenants: [
        { id: CONTOSO, domain: 'contoso.example', users: [ALICE_ENTRA] },
        { id: FABRIKAM, domain: 'fabrikam.example', users: [MALLORY] },
      ],
    });
    example = createMultipleProvidersApp({
      keycloak: { url: kc.url, ...KEYCLOAK },
      azure: { ...AZURE, allowedTenants: [CONTOSO], authority: entra.authority },
      baseUrl: base,
      redisUrl: redisUrl(),
    });
    example.app.silent = true;
    const callback = example.app.callback();
    server.setHandler((req, res) => {
      res.on('finish', () => answered.push(`${req.method} ${new URL(req.url!, base).pathname} ${res.statusCode}`));
      void callback(req, res);
    });
  });
  after(async () => {
    await server.close();
    await example.close();
    await kc.close();
    await entra.close();
  });

  const page = async (path: string, b = browser) => {
    const res = await b.get(`${base}${path}`, { headers: HTML });
    return { status: res.status, location: res.headers.get('location'), body: await res.text() };
  };
  const sessionCookies = () => Object.keys(browser.cookies(base));

  /** What the home page says of each provider: the user logged in there, or `-` beside its login link. */
  async function logins(): Promise<{ keycloak: string; azure: string }> {
    const home = (await page('/')).body;
    const state = (name: string) => {
      const user = testId(home, `user-${name}`);
      if (user) {
        assert.equal(testIdHref(home, `logout-${name}`), `/logout/${name}`);
        return user;
      }
      assert.equal(testIdHref(home, `login-${name}`), `/login/${name}?returnTo=%2F`);
      return '-';
    };
    return { keycloak: state('keycloak'), azure: state('azure') };
  }

  /** What /either and /both answer: who /either greets (with which provider), where /both sends the browser. */
  async function guardedPages(): Promise<{ either: string; both: string }> {
    const either = await page('/either');
    const both = await page('/both');
    return {
      either: either.status === 200 ? `${testId(either.body, 'user')} (${testId(either.body, 'provider')})` : String(either.status),
      both: both.status === 200 ? 'open' : `${both.status} ${both.location}`,
    };
  }

  /** A login or logout through the provider and back (a path of the app, or a URL); returns every URL the browser requested. */
  async function through(to: string): Promise<string[]> {
    const { response, urls } = await browser.follow(new URL(to, base), { navigation: true });
    assert.equal(response.status, 200, urls.join(' → '));
    return urls;
  }

  test('before any login: each provider\'s login link on its own route; /either offers both, /both sends to Keycloak', async () => {
    assert.deepEqual(await logins(), { keycloak: '-', azure: '-' });
    const either = await page('/either');
    assert.equal(either.status, 401);
    assert.equal(testIdHref(either.body, 'login-keycloak'), '/login/keycloak?returnTo=%2Feither');
    assert.equal(testIdHref(either.body, 'login-azure'), '/login/azure?returnTo=%2Feither');
    assert.deepEqual(await guardedPages(), { either: '401', both: '302 /login/keycloak?returnTo=%2Fboth' });
    assert.deepEqual(sessionCookies(), [], 'pages that only look at the logins start no session');
  });

  test('every route is the custom one: the library\'s /openid/<name>/... paths are not served', async () => {
    const anonymous = new Browser();
    for (const name of ['keycloak', 'azure']) {
      // The login and logout routes redirect; the callbacks refuse a request without state; the
      // logout channels refuse a request without a token or sid: all of them the library's answers.
      const routes: Array<[method: 'GET' | 'POST', path: string, status: number]> = [
        ['GET', `/login/${name}`, 302],
        ['GET', `/auth/${name}`, 400],
        ['GET', `/logout/${name}`, 302],
        ['GET', `/logged-out/${name}`, 200],
        ['POST', `/backchannel-logout/${name}`, 400],
        ['GET', `/frontchannel-logout/${name}`, 400],
      ];
      for (const [method, path, status] of routes) {
        const headers = { ...CLICK, origin: base };
        const request = (to: string) => (method === 'GET' ? anonymous.get(`${base}${to}`, { headers }) : anonymous.post(`${base}${to}`, {}, { headers }));
        assert.equal((await request(path)).status, status, `${method} ${path}`);
        const libraryDefault = `/openid/${name}/${path.split('/')[1]}`;
        assert.equal((await request(libraryDefault)).status, 404, `${method} ${libraryDefault}`);
      }
    }
  });

  test('logs in with Keycloak: redirect_uri <base>/auth/keycloak, one session cookie', async () => {
    kc.signInAs('alice');
    const urls = await through('/login/keycloak?returnTo=%2F');
    const authorize = new URL(urls.find((u) => u.startsWith(`${kc.endpoints.auth}?`))!);
    assert.equal(authorize.searchParams.get('redirect_uri'), `${base}/auth/keycloak`);
    assert.ok(urls.some((u) => u.startsWith(`${base}/auth/keycloak?code=`)), urls.join(' → '));
    assert.equal(urls.at(-1), `${base}/`);

    assert.deepEqual(sessionCookies(), ['koa-session-openid']);
    assert.deepEqual(await logins(), { keycloak: 'Alice Keycloak', azure: '-' });
    assert.deepEqual(await guardedPages(), { either: 'Alice Keycloak (Keycloak)', both: '302 /login/azure?returnTo=%2Fboth' });
  });

  test('then with Entra ID in the same browser: /both works, both logins in the one session', async () => {
    const before = browser.cookies(base)['koa-session-openid'];
    entra.signInAs(ALICE_ENTRA.upn);
    const urls = await through('/both');
    assert.equal(urls[1], `${base}/login/azure?returnTo=%2Fboth`);
    const authorize = new URL(urls.find((u) => u.startsWith(`${entra.authority}/organizations/oauth2/v2.0/authorize?`))!);
    assert.equal(authorize.searchParams.get('redirect_uri'), `${base}/auth/azure`);
    assert.ok(urls.some((u) => u.startsWith(`${base}/auth/azure?code=`)), urls.join(' → '));
    assert.equal(urls.at(-1), `${base}/both`);
    const both = (await page('/both')).body;
    assert.deepEqual([testId(both, 'user-keycloak'), testId(both, 'user-azure'), testId(both, 'tid')], ['Alice Keycloak', 'Alice Contoso', CONTOSO]);

    // One cookie still; its id was renewed by the login (session fixation), the Keycloak login kept.
    assert.deepEqual(sessionCookies(), ['koa-session-openid']);
    assert.notEqual(browser.cookies(base)['koa-session-openid'], before);
    assert.deepEqual(await logins(), { keycloak: 'Alice Keycloak', azure: 'Alice Contoso' });
    // Both optional() guards fill the same ctx.state: the later one's (Entra ID's) is what /either sees.
    assert.deepEqual(await guardedPages(), { either: 'Alice Contoso (Microsoft Entra ID)', both: 'open' });
  });

  test('a user of a tenant not on the list is refused (403 tenant_not_allowed); the logins in the session stay', async () => {
    entra.signInAs(MALLORY.upn);
    const { response, urls } = await browser.follow(`${base}/login/azure?returnTo=%2F`, { headers: { accept: 'application/json' } });
    assert.ok(urls.at(-1)!.startsWith(`${base}/auth/azure?`), urls.join(' → '));
    assert.equal(response.status, 403);
    assert.equal(((await response.json()) as { error: string }).error, 'tenant_not_allowed');
    assert.deepEqual(await logins(), { keycloak: 'Alice Keycloak', azure: 'Alice Contoso' });
  });

  test('logging out of Keycloak, here and at Keycloak, keeps the Entra ID login', async () => {
    const idToken = kc.issued.at(-1)!.id_token;
    const toKeycloak = await browser.follow(`${base}/logout/keycloak`, { headers: CLICK, stopAt: kc.endpoints.logout });
    assert.ok(toKeycloak.stoppedAt, toKeycloak.urls.join(' → '));
    assert.equal(toKeycloak.stoppedAt.searchParams.get('post_logout_redirect_uri'), `${base}/logged-out/keycloak`);
    assert.equal(toKeycloak.stoppedAt.searchParams.get('id_token_hint'), idToken);
    const urls = await through(toKeycloak.stoppedAt.href);
    assert.ok(urls.some((u) => u.startsWith(`${base}/logged-out/keycloak?state=`)), urls.join(' → '));
    assert.equal(urls.at(-1), `${base}/`);
    // Keycloak also told the app, on its back channel (the login had ended here already).
    assert.ok(answered.includes('POST /backchannel-logout/keycloak 200'), answered.join(', '));

    assert.deepEqual(await logins(), { keycloak: '-', azure: 'Alice Contoso' });
    assert.deepEqual(await guardedPages(), { either: 'Alice Contoso (Microsoft Entra ID)', both: '302 /login/keycloak?returnTo=%2Fboth' });
  });

  test('Keycloak ending the session (back-channel logout) ends the Keycloak login only', async () => {
    kc.signInAs('alice');
    await through('/login/keycloak?returnTo=%2F');
    assert.deepEqual(await logins(), { keycloak: 'Alice Keycloak', azure: 'Alice Contoso' });
    answered.length = 0;

    await kc.endSession('alice'); // as Keycloak's admin console does
    assert.deepEqual(answered, ['POST /backchannel-logout/keycloak 200']);
    assert.deepEqual(await logins(), { keycloak: '-', azure: 'Alice Contoso' });
  });

  test('logging out of Entra ID, here and at Entra ID, keeps the Keycloak login', async () => {
    kc.signInAs('alice');
    await through('/login/keycloak?returnTo=%2F');
    assert.equal((await guardedPages()).both, 'open');

    const toEntra = await browser.follow(`${base}/logout/azure`, { headers: CLICK, stopAt: `${entra.authority}/organizations/oauth2/v2.0/logout` });
    assert.ok(toEntra.stoppedAt, toEntra.urls.join(' → '));
    assert.equal(toEntra.stoppedAt.searchParams.get('post_logout_redirect_uri'), `${base}/logged-out/azure`);
    const urls = await through(toEntra.stoppedAt.href);
    assert.ok(urls.some((u) => u.startsWith(`${base}/logged-out/azure?state=`)), urls.join(' → '));
    assert.equal(urls.at(-1), `${base}/`);

    assert.deepEqual(await logins(), { keycloak: 'Alice Keycloak', azure: '-' });
    assert.deepEqual(await guardedPages(), { either: 'Alice Keycloak (Keycloak)', both: '302 /login/azure?returnTo=%2Fboth' });
    assert.deepEqual(sessionCookies(), ['koa-session-openid']);
  });
});
