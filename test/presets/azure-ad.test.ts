/**
 * azureAD(): single- and multi-tenant issuers. A hostile provider plays Entra ID's v2 endpoints at
 * 127.0.0.1 (`authority`), with the `{tenantid}` issuer template of `/organizations/v2.0` and
 * tokens of two tenants: one allowed, one not.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import Koa from 'koa';
import { azureAD, OpenID, redisSession, type RedisSessionMiddleware } from '../../src/index.js';
import { renderingErrors } from '../support/hostile-app.js';
import { startHostileProvider, validIdTokenClaims, type HostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';
import { serve } from '../support/serve.js';

const ALLOWED = '11111111-2222-4333-8444-555555555555';
const OTHER = '99999999-8888-4777-8666-555555555555';
const CLIENT_ID = '6731de76-14a6-49ae-97bc-6eba6914391e';

let op: HostileProvider;
let authority: string;
let served: Awaited<ReturnType<typeof serve>>;
let sessions: RedisSessionMiddleware;
let base: string;
let azure: OpenID;

before(async () => {
  op = await startHostileProvider({ clientId: CLIENT_ID, path: '/organizations/v2.0' });
  authority = new URL(op.issuer).origin;
  op.discovery.issuer = `${authority}/{tenantid}/v2.0`;
  const app = new Koa();
  app.silent = true;
  sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('azure') });
  app.use(sessions);
  azure = new OpenID(app, {
    ...azureAD({ tenant: 'organizations', authority, allowedTenants: [ALLOWED], clientId: CLIENT_ID, clientSecret: 'azure-secret-value-0123456789abcdef' }),
    allowInsecureRequests: true,
    jwksCooldown: 0.2,
  });
  app.use(renderingErrors(azure));
  const admins = azure.requireAppRole('Admin', { redirect: false });
  const api = azure.bearer({ audience: CLIENT_ID });
  const adminApi = azure.requireAppRole('Admin', { bearer: { audience: CLIENT_ID } });
  app.use(async (ctx, next) => {
    if (ctx.path === '/me') return azure.required({ redirect: false })(ctx, async () => void (ctx.body = ctx.state.user));
    if (ctx.path === '/admin') return admins(ctx, async () => void (ctx.body = 'admin'));
    if (ctx.path === '/api') return api(ctx, async () => void (ctx.body = { tid: ctx.state.user!.tid }));
    if (ctx.path === '/api/admin') return adminApi(ctx, async () => void (ctx.body = { admin: true }));
    return next();
  });
  served = await serve(app);
  base = served.base;
});
after(async () => {
  await served.close();
  await sessions.close();
  await op.close();
});
beforeEach(() => op.onToken(undefined));

const issuerOf = (tid: string) => `${authority}/${tid}/v2.0`;

/** Logs in with an ID token from tenant `tid` (and `iss`, `extra` claims as given); the callback's answer. */
async function login(tid: unknown, claims: Record<string, unknown> = {}) {
  op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), iss: issuerOf(String(tid)), tid, oid: 'f1e2d3c4-0000-4000-8000-000000000001', ...claims }));
  const browser = new Browser();
  const { response } = await browser.follow(`${base}/openid/azure/login`, { headers: { accept: 'application/json' } });
  const text = await response.text();
  const body = (text.startsWith('{') ? JSON.parse(text) : { text }) as Record<string, unknown>;
  return { status: response.status, body, me: await browser.get(`${base}/me`, { headers: { accept: 'application/json' } }), browser };
}

describe('multi-tenant (organizations) with an allow-list', () => {
  test('a user of an allowed tenant logs in: iss is the template with the token\'s own tid', async () => {
    const { me, body } = await login(ALLOWED);
    assert.equal(me.status, 200, JSON.stringify(body));
    const claims = (await me.json()) as Record<string, unknown>;
    assert.equal(claims.tid, ALLOWED);
    assert.equal(claims.iss, issuerOf(ALLOWED));
  });

  test('a user of another tenant is refused: 403 tenant_not_allowed, no login', async () => {
    const { status, body, me } = await login(OTHER);
    assert.equal(status, 403, JSON.stringify(body));
    assert.equal(body.error, 'tenant_not_allowed');
    assert.equal(me.status, 401);
  });

  test('an iss naming another tenant than tid, the template itself, or a tid that is no GUID: invalid_id_token', async () => {
    for (const [tid, claims] of [
      [ALLOWED, { iss: issuerOf(OTHER) }],
      [ALLOWED, { iss: `${authority}/{tenantid}/v2.0` }],
      [ALLOWED, { iss: `${authority}/${ALLOWED}/v2.0/` }],
      ['not-a-guid', {}],
      [undefined, { iss: issuerOf(ALLOWED) }],
    ] as const) {
      const { status, body } = await login(tid, claims);
      assert.equal(status, 400, JSON.stringify({ tid, claims }));
      assert.equal(body.error, 'invalid_id_token');
    }
  });

  test('a signing key whose JWKS "issuer" names another tenant is refused; the template or the own tenant fit', async () => {
    for (const [issuer, ok] of [[issuerOf(OTHER), false], [`${authority}/{tenantid}/v2.0`, true], [issuerOf(ALLOWED), true]] as const) {
      // A new signing key (an unknown kid: the app fetches the key set again), published with this issuer.
      const fresh = await op.keys.rotate();
      (op.keys.published.find((k) => k.kid === fresh.kid) as { issuer?: string }).issuer = issuer;
      await new Promise((resolve) => setTimeout(resolve, 250)); // past jwksCooldown
      const { me, body } = await login(ALLOWED);
      assert.equal(me.status === 200, ok, `${issuer}: ${JSON.stringify(body)}`);
    }
  });

  test('requireAppRole: the ID token\'s roles; without the role 403 role_required', async () => {
    const admin = await login(ALLOWED, { roles: ['Admin'] });
    assert.equal((await admin.browser.get(`${base}/admin`, { headers: { accept: 'application/json' } })).status, 200);
    const user = await login(ALLOWED, { roles: ['Reader'] });
    const refused = await user.browser.get(`${base}/admin`, { headers: { accept: 'application/json' } });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: string }).error, 'role_required');
  });
});

describe('bearer tokens of a multi-tenant API', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const token = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    op.sign({ aud: CLIENT_ID, sub: 'user', iat: now(), exp: now() + 300, scp: 'access_as_user', ...claims }, { typ: 'JWT', ...header });
  const call = async (t: string) => {
    const res = await fetch(`${base}/api`, { headers: { authorization: `Bearer ${t}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test('an allowed tenant\'s token passes; another tenant\'s is 403 tenant_not_allowed', async () => {
    assert.deepEqual(await call(await token({ iss: issuerOf(ALLOWED), tid: ALLOWED })), { status: 200, body: { tid: ALLOWED } });
    const other = await call(await token({ iss: issuerOf(OTHER), tid: OTHER }));
    assert.equal(other.status, 403);
    assert.equal(other.body.error, 'tenant_not_allowed');
  });

  test('requireAppRole({ bearer }): the token\'s own roles', async () => {
    const call = async (roles: string[]) => (await fetch(`${base}/api/admin`, { headers: { authorization: `Bearer ${await token({ iss: issuerOf(ALLOWED), tid: ALLOWED, roles })}` } })).status;
    assert.equal(await call(['Admin']), 200);
    assert.equal(await call(['Reader']), 403);
  });

  test('a v1 token (sts.windows.net issuer) is refused without acceptV1Tokens', async () => {
    const v1 = await call(await token({ iss: `https://sts.windows.net/${ALLOWED}/`, tid: ALLOWED }));
    assert.equal(v1.status, 401);
    assert.equal(v1.body.error, 'invalid_token');
  });

  test('a Microsoft Graph access token (a nonce in its header) is named as such, not as a bad signature', async () => {
    const graph = await call(await token({ iss: issuerOf(ALLOWED), tid: ALLOWED, aud: '00000003-0000-0000-c000-000000000000' }, { nonce: 'abc' }));
    assert.equal(graph.status, 401);
    assert.match(String(graph.body.error_description), /Microsoft Graph/);
  });

  test('with acceptV1Tokens a v1 token of an allowed tenant passes (verifyToken)', async () => {
    const app = new Koa();
    const v1 = new OpenID(app, {
      ...azureAD({ tenant: 'organizations', authority, allowedTenants: [ALLOWED], clientId: CLIENT_ID, acceptV1Tokens: true }),
      name: 'azure-v1',
      routes: false,
      allowInsecureRequests: true,
    });
    const claims = await v1.verifyToken(await token({ iss: `https://sts.windows.net/${ALLOWED}/`, tid: ALLOWED }));
    assert.equal(claims.tid, ALLOWED);
    await assert.rejects(v1.verifyToken(await token({ iss: `https://sts.windows.net/${OTHER}/`, tid: OTHER })), { code: 'tenant_not_allowed' });
  });
});

describe('azureAD() options', () => {
  test('single tenant: exact issuer; consumers: the consumers tenant; multi-tenant needs allowedTenants', () => {
    const single = azureAD({ tenant: ALLOWED, clientId: 'c' });
    assert.equal(single.issuer, `https://login.microsoftonline.com/${ALLOWED}/v2.0`);
    assert.equal(single.configuration, `https://login.microsoftonline.com/${ALLOWED}/v2.0/.well-known/openid-configuration`);
    assert.equal(single.frontchannelLogoutRequiresIss, false);
    assert.ok(single.scopes!.includes('offline_access'));
    assert.equal(azureAD({ tenant: 'consumers', clientId: 'c' }).issuer, 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0');
    assert.equal(azureAD({ tenant: 'common', clientId: 'c', allowedTenants: 'any' }).issuer, 'https://login.microsoftonline.com/{tenantid}/v2.0');
    assert.throws(() => azureAD({ tenant: 'common', clientId: 'c' }), /allowedTenants/);
    assert.throws(() => azureAD({ tenant: 'contoso.onmicrosoft.com', clientId: 'c' }), /tenant id/);
    assert.throws(() => azureAD({ tenant: ALLOWED, clientId: 'c', allowedTenants: [ALLOWED] }), /common' or 'organizations/);
    assert.throws(() => new OpenID(new Koa(), { ...azureAD({ tenant: 'common', clientId: 'c', allowedTenants: ['not-a-guid'] }), routes: false }), /GUID/);
  });
});

describe('front-channel logout of a multi-tenant provider', () => {
  test('an iss naming the user\'s tenant is accepted; the template or another issuer is refused', async () => {
    const call = (iss: string) => fetch(`${base}/openid/azure/frontchannel-logout?iss=${encodeURIComponent(iss)}&sid=some-sid`);
    assert.equal((await call(issuerOf(ALLOWED))).status, 200);
    assert.equal((await call(`${authority}/{tenantid}/v2.0`)).status, 400);
    assert.equal((await call('https://elsewhere.example/v2.0')).status, 400);
  });
});

describe('RFC 9207 iss response parameter with a multi-tenant issuer', () => {
  afterEach(() => op.onAuthorize(undefined));
  const withIss = (value: string) => op.onAuthorize((redirect) => void redirect.set('iss', value));

  test('the user\'s tenant issuer is accepted when the ID token names the same', async () => {
    withIss(issuerOf(ALLOWED));
    assert.equal((await login(ALLOWED)).me.status, 200);
  });

  test('the template itself, another issuer, or another tenant than the ID token\'s: issuer_mismatch', async () => {
    for (const value of [`${authority}/{tenantid}/v2.0`, 'https://elsewhere.example/v2.0', issuerOf(OTHER)]) {
      withIss(value);
      const { status, body } = await login(ALLOWED);
      assert.equal(status, 400, value);
      assert.equal(body.error, 'issuer_mismatch', value);
    }
  });
});
