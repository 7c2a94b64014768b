/**
 * Interop with a real, independent OpenID provider: Glewlwyd 2.7 (Debian package `glewlwyd`), its
 * own process on 127.0.0.1 (see test/support/glewlwyd.ts). The client id has `-`, `.` and `_` in
 * it and authenticates with client_secret_basic, which Glewlwyd compares raw: the library must send
 * the RFC 6749 §2.3.1 form encoding, which leaves `-._*` and alphanumerics as they are.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Context } from 'koa';
import Router from '@koa/router';
import { OpenID, isOpenIDError, redisSession } from '../../src/index.js';
import { startGlewlwyd, type Glewlwyd } from '../support/glewlwyd.js';
import { Browser } from '../support/http-client.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';

const CLIENT_ID = 'koa-app.v2_test';
const CLIENT_SECRET = 's3cret-value.with_chars-0123456789';
/** An RFC 8707 resource the client may ask for: Glewlwyd then puts it into the access token's `aud`. */
const API = 'https://api.example.test/';
const SCOPES = ['openid', 'profile', 'email'];

/** The payload of a JWT, not verified: only to see what the provider put there. */
function payload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('Glewlwyd 2.7 as the OpenID provider', { timeout: 50_000 }, () => {
  let gw: Glewlwyd | undefined;
  let server: Server | undefined;
  let sessions: ReturnType<typeof redisSession> | undefined;
  let provider: OpenID;
  let base: string;

  /** Library errors of a route become their answers (status + JSON). */
  const answer = (fn: (ctx: Context) => Promise<void>) => async (ctx: Context) => {
    try {
      await fn(ctx);
    } catch (err) {
      if (!isOpenIDError(err)) throw err;
      await provider.renderError(ctx, err);
    }
  };

  before(async () => {
    const app = new Koa();
    app.keys = ['glewlwyd-interop-key'];
    sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('glewlwyd') });
    app.use(sessions);
    // Composed on the first request: the routes below are added once Glewlwyd is up.
    let handler: ReturnType<Koa['callback']> | undefined;
    server = createServer((req, res) => (handler ??= app.callback())(req, res));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    gw = await startGlewlwyd({
      redirectUri: `${base}/openid/glewlwyd/auth`,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      scopes: SCOPES,
      resources: [API],
      // Each refresh spends the refresh token and returns a new one.
      refreshTokenOneUse: 'always',
    });
    provider = new OpenID(app, {
      name: 'glewlwyd',
      clientId: gw.clientId,
      clientSecret: gw.clientSecret,
      configuration: gw.discoveryUrl,
      allowInsecureRequests: true,
      scopes: SCOPES,
    });

    const router = new Router();
    router.get('/me', provider.required(), (ctx) => {
      ctx.body = ctx.state.user;
    });
    router.get('/login-api', answer((ctx) => provider.login(ctx, { params: { resource: API }, returnTo: '/me' })));
    router.get('/userinfo', provider.required(), answer(async (ctx) => {
      ctx.body = await provider.userInfo(ctx);
    }));
    router.post('/refresh', provider.required(), answer(async (ctx) => {
      const before = (await provider.session(ctx))!;
      const after = await provider.refresh(ctx);
      ctx.body = {
        sub: after.claims.sub,
        subBefore: before.claims.sub,
        accessTokenChanged: after.tokens.accessToken !== before.tokens.accessToken,
        refreshTokenChanged: after.tokens.refreshToken !== before.tokens.refreshToken,
        expiresAt: after.expiresAt,
        expiresAtBefore: before.expiresAt,
        scopes: after.scopes,
      };
    }));
    // Test only: hands the session's access token to the test, which plays an API client with it.
    router.get('/access-token', provider.required(), async (ctx) => {
      ctx.body = { accessToken: (await provider.session(ctx))!.tokens.accessToken };
    });
    // Without a resource, Glewlwyd's access tokens name the granted scope list as their audience.
    router.get('/api/scope-audience', provider.bearer({ audience: SCOPES.join(' ') }), (ctx) => {
      ctx.body = { sub: ctx.state.user?.sub, token: ctx.state.openid?.token };
    });
    router.get('/api/resource', provider.bearer({ audience: API }), (ctx) => {
      ctx.body = { sub: ctx.state.user?.sub, token: ctx.state.openid?.token };
    });
    router.get('/api/default-audience', provider.bearer(), (ctx) => {
      ctx.body = { sub: ctx.state.user?.sub };
    });
    app.use(router.routes());
  });

  after(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
    }
    await sessions?.close();
    await gw?.close();
  });

  /** App login route → Glewlwyd (its login page played by the harness) → callback → `returnTo`. */
  async function login(browser = new Browser(), start = `${base}/openid/glewlwyd/login?returnTo=/me`) {
    const { response, urls } = await gw!.follow(browser, start);
    const text = await response.text();
    // Where it ended (path only: a callback URL carries the code) and the error the app answered.
    const hint = /"provider_error":"(unauthorized_client|invalid_client)"/.test(text)
      ? ' (Glewlwyd compares client_secret_basic credentials raw: they must go out form-encoded, "-._*" unchanged, RFC 6749 §2.3.1)'
      : '';
    assert.equal(response.status, 200, `the login ended with ${response.status} at ${new URL(urls.at(-1)!).pathname}: ${text.slice(0, 400)}${hint}`);
    return { browser, urls, me: JSON.parse(text) as Record<string, unknown> };
  }

  async function accessToken(browser: Browser): Promise<string> {
    const res = await browser.get(`${base}/access-token`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    const { accessToken } = (await res.json()) as { accessToken?: string };
    assert.equal(typeof accessToken, 'string');
    return accessToken!;
  }

  const callApi = (path: string, token: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });

  test('a full login through Glewlwyd ends logged in as its user (client_secret_basic, client id with "-._")', async () => {
    assert.match(gw!.clientId, /-/);
    assert.match(gw!.clientId, /\./);
    assert.match(gw!.clientId, /_/);
    const { urls, me } = await login();
    assert.ok(urls.some((u) => u.startsWith(`${gw!.issuer}/auth?`)), 'the browser went through Glewlwyd\'s authorization endpoint');
    const callback = urls.find((u) => u.startsWith(`${base}/openid/glewlwyd/auth?`));
    assert.ok(callback, 'Glewlwyd sent the browser back to the callback');
    assert.equal(new URL(callback).searchParams.get('iss'), gw!.issuer, 'with the RFC 9207 iss parameter');
    assert.equal(new URL(urls.at(-1)!).pathname, '/me');
    assert.equal(me.iss, gw!.issuer);
    assert.equal(me.aud, gw!.clientId);
    assert.equal(typeof me.sub, 'string');
    assert.equal(me.name, gw!.name);
    assert.equal(me.email, gw!.email);
  });

  test('userInfo() returns the Glewlwyd user\'s claims', async () => {
    const { browser, me } = await login();
    const res = await browser.get(`${base}/userinfo`, { headers: { accept: 'application/json' } });
    const info = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(info));
    assert.equal(info.sub, me.sub);
    assert.equal(info.name, gw!.name);
    assert.equal(info.email, gw!.email);
  });

  test('refresh() renews the tokens, and the rotated refresh token works again', async () => {
    const { browser, me } = await login();
    for (let round = 1; round <= 2; round++) {
      const res = await browser.post(`${base}/refresh`, {}, { headers: { accept: 'application/json' } });
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 200, `refresh ${round}: ${JSON.stringify(body)}`);
      assert.equal(body.sub, me.sub);
      assert.equal(body.subBefore, me.sub);
      assert.equal(body.accessTokenChanged, true, `refresh ${round}: a new access token`);
      assert.equal(body.refreshTokenChanged, true, `refresh ${round}: Glewlwyd rotated the refresh token`);
      assert.equal(typeof body.expiresAt, 'number');
      assert.ok((body.expiresAt as number) >= (body.expiresAtBefore as number));
      assert.deepEqual([...(body.scopes as string[])].sort(), [...SCOPES].sort());
    }
    // The renewed access token is the one the session uses now.
    const info = await browser.get(`${base}/userinfo`, { headers: { accept: 'application/json' } });
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as { sub: string }).sub, me.sub);
  });

  test('bearer() and verifyToken accept Glewlwyd\'s access token with the audience it puts in "aud"', async () => {
    const { browser, me } = await login();
    const token = await accessToken(browser);
    const claims = payload(token);
    // What Glewlwyd puts there without a resource: the granted scope list, as one string.
    assert.equal(typeof claims.aud, 'string');
    assert.equal(claims.aud, claims.scope);
    assert.deepEqual((claims.aud as string).split(' ').sort(), [...SCOPES].sort());
    assert.equal(claims.client_id, gw!.clientId);
    assert.equal(claims.sub, me.sub);

    const verified = await provider.verifyToken(token, { audience: claims.aud as string });
    assert.equal(verified.sub, me.sub);
    const ok = await callApi('/api/scope-audience', token);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { sub: me.sub, token: 'bearer' });

    // The default audience is the client id, which Glewlwyd does not put into access tokens.
    await assert.rejects(provider.verifyToken(token), (err: unknown) => isOpenIDError(err) && err.code === 'invalid_token');
    const refused = await callApi('/api/default-audience', token);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_token');
    assert.equal((await callApi('/api/resource', token)).status, 401);
  });

  test('with an RFC 8707 resource, the access token\'s "aud" is that resource and bearer() accepts it', async () => {
    const { browser, me } = await login(new Browser(), `${base}/login-api`);
    const token = await accessToken(browser);
    assert.equal(payload(token).aud, API);
    const ok = await callApi('/api/resource', token);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { sub: me.sub, token: 'bearer' });
    assert.equal((await provider.verifyToken(token, { audience: API })).sub, me.sub);
    assert.equal((await callApi('/api/scope-audience', token)).status, 401);
  });
});
