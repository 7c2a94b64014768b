/**
 * keycloak(): the realm URL forms, and roles read from the verified access token (Keycloak puts
 * realm and client roles there, not in the ID token), for session logins and bearer tokens alike.
 * A hostile provider plays a Keycloak realm at 127.0.0.1 (`/realms/<realm>` paths, JWT access
 * tokens with `realm_access`/`resource_access`, `azp` the client, `aud` `account`).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import Koa from 'koa';
import { keycloak, OpenID, redisSession, type RedisSessionMiddleware } from '../../src/index.js';
import { renderingErrors } from '../support/hostile-app.js';
import { startHostileProvider, validIdTokenClaims, type HostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';
import { serve } from '../support/serve.js';

const CLIENT_ID = 'shop';
let op: HostileProvider;
let served: Awaited<ReturnType<typeof serve>>;
let sessions: RedisSessionMiddleware;
let base: string;
let kc: OpenID;

before(async () => {
  op = await startHostileProvider({ clientId: CLIENT_ID, path: '/auth/realms/demo' });
  const app = new Koa();
  app.silent = true;
  sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('keycloak') });
  app.use(sessions);
  kc = new OpenID(app, {
    ...keycloak({ url: `${new URL(op.issuer).origin}/auth`, realm: 'demo', clientId: CLIENT_ID, clientSecret: 'keycloak-secret-value-0123456789abcdef' }),
    allowInsecureRequests: true,
  });
  app.use(renderingErrors(kc));
  const routes: Record<string, Koa.Middleware> = {
    '/admin': kc.requireRole('admin', { redirect: false }),
    '/orders': kc.requireRole('orders:read', { client: true, redirect: false }),
    '/api/admin': kc.requireRole('admin', { bearer: { audience: 'account' } }),
  };
  // A route behind optional() (which puts a session login into ctx.state) and a bearer role guard.
  const mixed = kc.requireRole('admin', { bearer: { audience: 'account' } });
  const optional = kc.optional();
  app.use(async (ctx, next) => {
    if (ctx.path === '/roles') {
      ctx.body = { roles: await kc.roles(ctx), admin: await kc.hasRole(ctx, 'admin'), billing: await kc.hasRole(ctx, 'pay', { client: 'billing' }) };
      return;
    }
    if (ctx.path === '/mixed/admin') return optional(ctx, () => mixed(ctx, async () => void (ctx.body = { sub: ctx.state.user!.sub })));
    const guard = routes[ctx.path];
    return guard ? guard(ctx, async () => void (ctx.body = 'ok')) : next();
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

const now = () => Math.floor(Date.now() / 1000);
/** A Keycloak-shaped access token: typ Bearer, azp the client, aud account, roles. */
const accessToken = (claims: Record<string, unknown>) =>
  op.sign({ iss: op.issuer, sub: 'alice', typ: 'Bearer', azp: CLIENT_ID, aud: 'account', iat: now(), exp: now() + 300, ...claims }, { typ: 'JWT' });
const ROLES = { realm_access: { roles: ['admin', 'offline_access'] }, resource_access: { [CLIENT_ID]: { roles: ['orders:read'] }, billing: { roles: ['pay'] } } };

async function login(tokenClaims: Record<string, unknown>) {
  const at = await accessToken(tokenClaims);
  op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), at_hash: undefined }, { access_token: at }));
  const browser = new Browser();
  const { response } = await browser.follow(`${base}/openid/keycloak/login`, { headers: { accept: 'application/json' } });
  await response.arrayBuffer();
  const get = (path: string) => browser.get(base + path, { headers: { accept: 'application/json' } });
  return Object.assign(get, { cookie: () => `koa-session-openid=${browser.cookies(base)['koa-session-openid']}` });
}

describe('keycloak() options', () => {
  test('both URL forms: /realms/<realm> (Keycloak 17+) and /auth/realms/<realm>', () => {
    assert.deepEqual(
      [keycloak({ url: 'https://kc.example.com', realm: 'main', clientId: 'c' }), keycloak({ url: 'https://kc.example.com/auth/', realm: 'main', clientId: 'c' })].map((o) => [o.issuer, o.configuration, o.name, o.kind]),
      [
        ['https://kc.example.com/realms/main', 'https://kc.example.com/realms/main/.well-known/openid-configuration', 'keycloak', 'keycloak'],
        ['https://kc.example.com/auth/realms/main', 'https://kc.example.com/auth/realms/main/.well-known/openid-configuration', 'keycloak', 'keycloak'],
      ],
    );
    const inDocker = keycloak({ url: 'http://localhost:8080', internalUrl: 'http://keycloak:8080', realm: 'main', clientId: 'c' });
    assert.deepEqual([inDocker.issuer, inDocker.configuration], ['http://localhost:8080/realms/main', 'http://keycloak:8080/realms/main/.well-known/openid-configuration']);
    assert.throws(() => keycloak({ url: 'https://kc.example.com/realms/main', realm: 'main', clientId: 'c' }), /give the realm as "realm"/);
    assert.throws(() => keycloak({ url: 'https://kc.example.com', internalUrl: 'keycloak', realm: 'main', clientId: 'c' }), /"internalUrl"/);
    assert.throws(() => keycloak({ url: 'kc.example.com', realm: 'main', clientId: 'c' }), /"url"/);
    assert.throws(() => keycloak({ url: 'https://kc.example.com', realm: '', clientId: 'c' }), /"realm"/);
  });

  test('the role helpers belong to Keycloak providers (a TypeError elsewhere)', () => {
    const generic = new OpenID(new Koa(), { name: 'g', clientId: 'c', configuration: 'https://op.example/.well-known/openid-configuration', routes: false });
    assert.throws(() => generic.requireRole('admin'), /requireRole\(\) is for a keycloak\(\) provider/);
    assert.throws(() => generic.requireAppRole('admin'), /requireAppRole\(\) is for a azureAD\(\) provider|azureAD/);
    assert.throws(() => kc.requireRole(''), /non-empty/);
  });
});

describe('roles of a session login: from the access token', () => {
  test('roles(ctx) and hasRole() read realm and client roles of the stored access token', async () => {
    const get = await login(ROLES);
    const res = await get('/roles');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      roles: { realm: ['admin', 'offline_access'], clients: { [CLIENT_ID]: ['orders:read'], billing: ['pay'] } },
      admin: true,
      billing: true,
    });
  });

  test('requireRole: a realm role, a client role of this app; without it 403 role_required', async () => {
    const admin = await login(ROLES);
    assert.equal((await admin('/admin')).status, 200);
    assert.equal((await admin('/orders')).status, 200);
    const user = await login({ realm_access: { roles: ['user'] }, resource_access: { billing: { roles: ['orders:read'] } } });
    for (const path of ['/admin', '/orders']) {
      const res = await user(path);
      assert.equal(res.status, 403, path);
      assert.equal(((await res.json()) as { error: string }).error, 'role_required');
    }
  });

  test('roles in the ID token only do not count: the access token is what Keycloak signs roles into', async () => {
    const at = await accessToken({});
    op.onToken((ctx) => op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), at_hash: undefined, ...ROLES }, { access_token: at }));
    const browser = new Browser();
    await (await browser.follow(`${base}/openid/keycloak/login`, { headers: { accept: 'application/json' } })).response.arrayBuffer();
    assert.equal((await browser.get(`${base}/admin`, { headers: { accept: 'application/json' } })).status, 403);
  });

  test('an access token that fails verification (another client\'s, or badly signed) gives no roles', async () => {
    const other = await login({ ...ROLES, azp: 'someone-else' });
    const res = await other('/admin');
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
  });
});

describe('roles of a bearer token', () => {
  test('a bearer token without the role is refused even when the session (set into ctx.state by optional()) has it', async () => {
    const jar = (await login(ROLES)).cookie();
    const bob = await accessToken({ sub: 'bob', realm_access: { roles: ['user'] } });
    const res = await fetch(`${base}/mixed/admin`, { headers: { authorization: `Bearer ${bob}`, cookie: jar, accept: 'application/json' } });
    assert.equal(res.status, 403);
    const ok = await fetch(`${base}/mixed/admin`, { headers: { authorization: `Bearer ${await accessToken(ROLES)}`, cookie: jar, accept: 'application/json' } });
    assert.equal(ok.status, 200);
  });

  const call = async (token: string) => (await fetch(`${base}/api/admin`, { headers: { authorization: `Bearer ${token}` } })).status;
  test('requireRole({ bearer }) reads the bearer token\'s own roles', async () => {
    assert.equal(await call(await accessToken(ROLES)), 200);
    assert.equal(await call(await accessToken({ realm_access: { roles: ['user'] } })), 403);
    assert.equal(await call(await accessToken({ ...ROLES, iss: 'https://elsewhere.example/realms/demo' })), 401);
  });
});
