/**
 * examples/azure-ad against an Entra ID lookalike (./entra-id.ts): real oidc-provider tenants
 * behind a `/organizations` front with the `{tenantid}` issuer template. Contoso is on the app's
 * allow-list, Fabrikam is not.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAzureAdApp } from '../../examples/azure-ad/app.js';
import { Browser } from '../support/http-client.js';
import { redisUrl } from '../support/redis.js';
import { startEntraId, type EntraId } from './entra-id.js';
import { listen } from './oidc-provider.js';

const CLIENT_ID = '3f2b8a61-5c1d-4e0a-9b7f-2d6c4e8a1b90';
const CONTOSO = '0c7e5d1a-8b2f-4a63-9e41-5f8d2c7b3a10';
const FABRIKAM = 'e4a9b2c7-1d3f-4b8e-a6c5-9f0e7d2b4c81';
const ALICE = { upn: 'alice@contoso.example', name: 'Alice Admin', oid: '7b1e4c2d-9a3f-4e8b-b5d6-1c0f2a9e8d73', roles: ['Admin'] };
const BOB = { upn: 'bob@contoso.example', name: 'Bob Reader', oid: '2d9f6a1b-4c8e-4f3a-8b7d-6e5c0a1f9b24' };
const MALLORY = { upn: 'mallory@fabrikam.example', name: 'Mallory', oid: '9c3a7e5f-2b1d-4a8c-9e6f-0d4b8a2c7e15', roles: ['Admin'] };

describe('examples/azure-ad: multi-tenant Entra ID', () => {
  let entra: EntraId;
  let server: Awaited<ReturnType<typeof listen>>;
  let example: ReturnType<typeof createAzureAdApp>;
  let base: string;

  before(async () => {
    server = await listen();
    base = server.origin;
    entra = await startEntraId({
      app: { clientId: CLIENT_ID, clientSecret: 'contoso-app-secret-0123456789', redirectUri: `${base}/openid/azure/auth` },
      apiScopes: ['access_as_user', 'Files.Read'],
      tenants: [
        { id: CONTOSO, domain: 'contoso.example', users: [ALICE, BOB] },
        { id: FABRIKAM, domain: 'fabrikam.example', users: [MALLORY] },
      ],
    });
    example = createAzureAdApp({
      clientId: CLIENT_ID,
      clientSecret: 'contoso-app-secret-0123456789',
      allowedTenants: [CONTOSO],
      baseUrl: base,
      redisUrl: redisUrl(),
      authority: entra.authority,
      allowInsecureRequests: true,
    });
    server.setHandler(example.app.callback());
  });
  after(async () => {
    await server.close();
    await example.close();
    await entra.close();
  });

  const json = { accept: 'application/json' };
  const signIn = (upn: string) => {
    entra.signInAs(upn);
    const browser = new Browser();
    return browser.follow(`${base}/openid/azure/login?returnTo=/me`, { navigation: true }).then((result) => ({ ...result, browser }));
  };

  test('a user of an allowed tenant logs in through /organizations: /me shows tid and oid', async () => {
    const { response, urls } = await signIn(ALICE.upn);
    assert.ok(urls.some((u) => u.startsWith(`${entra.authority}/organizations/oauth2/v2.0/authorize?`)), 'through the multi-tenant front');
    assert.ok(urls.some((u) => u.startsWith(`${entra.authority}/${CONTOSO}/v2.0/auth?`)), 'signed in at the home tenant');
    assert.equal(urls.at(-1), `${base}/me`);
    assert.equal(response.status, 200);
    const body = await response.text();
    assert.match(body, new RegExp(`data-testid="tid">${CONTOSO}<`));
    assert.match(body, new RegExp(`data-testid="oid">${ALICE.oid}<`));
    assert.match(body, new RegExp(`data-testid="key">${CONTOSO}/${ALICE.oid}<`));
    // Discovery, keys and the code exchange all went through the multi-tenant endpoints.
    for (const request of ['GET /v2.0/.well-known/openid-configuration', 'GET /discovery/v2.0/keys', 'POST /oauth2/v2.0/token']) {
      assert.ok(entra.frontRequests.includes(request), request);
    }
  });

  test('a user of another tenant is refused at the callback: 403 tenant_not_allowed, no login', async () => {
    entra.signInAs(MALLORY.upn);
    const browser = new Browser();
    const { response, urls } = await browser.follow(`${base}/openid/azure/login?returnTo=/me`, { headers: json });
    assert.ok(urls.some((u) => u.startsWith(`${entra.authority}/${FABRIKAM}/v2.0/auth?`)), 'signed in at Fabrikam');
    assert.ok(urls.at(-1)!.startsWith(`${base}/openid/azure/auth?`));
    assert.equal(response.status, 403);
    assert.equal(((await response.json()) as { error: string }).error, 'tenant_not_allowed');
    assert.equal((await browser.get(`${base}/me`, { headers: json })).status, 401);
  });

  test('the Admin app role page: 200 with the role, 403 role_required without', async () => {
    const alice = await signIn(ALICE.upn);
    const admin = await alice.browser.get(`${base}/admin`, { headers: { accept: 'text/html' } });
    assert.equal(admin.status, 200);
    assert.match(await admin.text(), /you have the app role Admin/);
    const bob = await signIn(BOB.upn);
    assert.equal(bob.response.status, 200);
    const refused = await bob.browser.get(`${base}/admin`, { headers: json });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: string }).error, 'role_required');
  });

  test('the API: a token with scp access_as_user passes; without that scope 403; another tenant 403', async () => {
    const call = async (token?: string) => {
      const res = await fetch(`${base}/api/me`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: res.status, body: (await res.json()) as Record<string, unknown>, challenge: res.headers.get('www-authenticate') };
    };
    const ok = await call(await entra.apiToken(BOB.upn, ['access_as_user']));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body, { key: `${CONTOSO}/${BOB.oid}`, tid: CONTOSO, oid: BOB.oid, scp: 'access_as_user' });

    const noScope = await call(await entra.apiToken(BOB.upn, ['Files.Read']));
    assert.equal(noScope.status, 403);
    assert.equal(noScope.body.error, 'insufficient_scope');
    assert.match(String(noScope.challenge), /scope="access_as_user"/);

    const otherTenant = await call(await entra.apiToken(MALLORY.upn, ['access_as_user']));
    assert.equal(otherTenant.status, 403);
    assert.equal(otherTenant.body.error, 'tenant_not_allowed');

    assert.equal((await call()).status, 401);
  });
});
