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
import { setTimeout as sleep } from 'node:timers/promises';
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
/** The library's default logout routes for a provider named `glewlwyd`. */
const LOGGED_OUT = '/openid/glewlwyd/logged-out';
const BACKCHANNEL = '/openid/glewlwyd/backchannel-logout';
const FRONTCHANNEL = '/openid/glewlwyd/frontchannel-logout';
/** How long Glewlwyd may take to post a logout token (it does so from a thread of its own). */
const DELIVERY_TIMEOUT = 5000;

/** What the app answered to a logout token Glewlwyd posted. */
interface Delivery {
  status: number;
  body: unknown;
}

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
  /** Every POST to the back-channel logout route, in order of their answers. */
  const deliveries: Delivery[] = [];

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
    // Outside the library's routes: records how the app answered each logout token Glewlwyd posted.
    app.use(async (ctx, next) => {
      try {
        await next();
      } finally {
        if (ctx.method === 'POST' && ctx.path === BACKCHANNEL) deliveries.push({ status: ctx.status, body: ctx.body });
      }
    });
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
      postLogoutRedirectUris: [`${base}${LOGGED_OUT}`],
      backchannelLogoutUri: `${base}${BACKCHANNEL}`,
      frontchannelLogoutUri: `${base}${FRONTCHANNEL}`,
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
    // postLogoutReturnTo (default `/`).
    router.get('/', (ctx) => {
      ctx.body = 'home';
    });
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
    // Test only: hands the session's tokens to the test, which plays an API client (or a thief) with them.
    router.get('/tokens', provider.required(), async (ctx) => {
      ctx.body = (await provider.session(ctx))!.tokens;
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

  async function tokens(browser: Browser): Promise<{ accessToken: string; refreshToken?: string; idToken?: string }> {
    const res = await browser.get(`${base}/tokens`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { accessToken: string; refreshToken?: string; idToken?: string };
    assert.equal(typeof body.accessToken, 'string');
    return body;
  }

  const accessToken = async (browser: Browser) => (await tokens(browser)).accessToken;

  /** The app's answer to `browser` on a guarded route: 200 while it holds the login, 401 after. */
  async function meStatus(browser: Browser): Promise<number> {
    const res = await browser.get(`${base}/me`, { headers: { accept: 'application/json' } });
    await res.body?.cancel();
    return res.status;
  }

  /** `provider.refresh(ctx)` through the app's route. */
  async function refresh(browser: Browser): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await browser.post(`${base}/refresh`, {}, { headers: { accept: 'application/json' } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** The `index`th logout token Glewlwyd posted to the app (0 = the first), waited for. */
  async function delivery(index: number): Promise<Delivery> {
    const deadline = Date.now() + DELIVERY_TIMEOUT;
    while (deliveries.length <= index) {
      if (Date.now() > deadline) assert.fail(`Glewlwyd posted no logout token to ${BACKCHANNEL} within ${DELIVERY_TIMEOUT} ms. Its log:\n${gw!.log()}`);
      await sleep(20);
    }
    return deliveries[index]!;
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
      const { status, body } = await refresh(browser);
      assert.equal(status, 200, `refresh ${round}: ${JSON.stringify(body)}`);
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

  // Glewlwyd refuses a disabled refresh token with a bare 400 (no body), not RFC 6749's JSON error:
  // the library must still take it as a refusal that ends the login.
  test('a spent refresh token replayed at Glewlwyd breaks the chain: the next refresh() ends the login', async () => {
    const { browser } = await login();
    const spent = (await tokens(browser)).refreshToken;
    assert.equal(typeof spent, 'string');
    assert.equal((await refresh(browser)).status, 200);

    // The spent token, replayed as a thief would: Glewlwyd refuses it and disables the live one too.
    const metadata = (await (await fetch(gw!.discoveryUrl)).json()) as { token_endpoint: string };
    const replay = await fetch(metadata.token_endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: spent! }),
      signal: AbortSignal.timeout(5000),
    });
    // 400 with no body at all, not RFC 6749's {"error":"invalid_grant"}: the library must take a bare 400 as a refusal.
    await replay.body?.cancel();
    assert.equal(replay.status, 400);

    const { status, body } = await refresh(browser);
    assert.equal(status, 401, JSON.stringify(body));
    assert.equal(body.error, 'login_required');
    assert.equal(await meStatus(browser), 401, 'the refused refresh ended the login');
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

  test('RP-initiated logout: the logout route ends the login and comes back through Glewlwyd\'s end_session to postLogoutReturnTo', async () => {
    const seen = deliveries.length;
    const { browser } = await login();
    const { accessToken, idToken } = await tokens(browser);
    const { response, urls, stoppedAt } = await gw!.follow(browser, `${base}/openid/glewlwyd/logout`, { headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(stoppedAt?.href, undefined, 'Glewlwyd kept the browser at its end-session page (no post_logout_redirect_uri accepted)');
    const text = await response.text();
    assert.equal(response.status, 200, `the logout ended with ${response.status} at ${urls.at(-1)}: ${text.slice(0, 400)}`);
    assert.equal(text, 'home');
    assert.equal(urls.at(-1), `${base}/`);

    const endSessionUrl = urls.find((u) => u.startsWith(`${gw!.issuer}/end_session?`));
    assert.ok(endSessionUrl, `the browser did not go to Glewlwyd's end_session:\n${urls.join('\n')}`);
    const endSession = new URL(endSessionUrl);
    assert.equal(endSession.searchParams.get('id_token_hint'), idToken);
    assert.equal(endSession.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), `${base}${LOGGED_OUT}`);
    const state = endSession.searchParams.get('state');
    assert.ok(state);
    // Glewlwyd accepted the registered post_logout_redirect_uri: it sent the browser back with the state.
    assert.ok(urls.includes(`${base}${LOGGED_OUT}?state=${state}`), `not back at ${LOGGED_OUT} with the state:\n${urls.join('\n')}`);

    assert.equal(await meStatus(browser), 401, 'the app\'s login ended');
    // Glewlwyd ended its session too: the session's access token is revoked there...
    const userinfo = await fetch(`${gw!.issuer}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` }, signal: AbortSignal.timeout(5000) });
    await userinfo.body?.cancel();
    assert.equal(userinfo.status, 401);
    // ...and it posted a logout token for it, which the app accepts though the login is gone already.
    const answer = await delivery(seen);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });

  test('back-channel logout: ending the user\'s session at Glewlwyd ends the app login of that session only', async () => {
    const seen = deliveries.length;
    const a = await login();
    const b = await login();
    assert.equal(typeof a.me.sid, 'string', 'Glewlwyd\'s ID token names its session (sid)');
    assert.notEqual(a.me.sid, b.me.sid);

    await gw!.endSession(a.browser, a.me.sid as string);
    const answer = await delivery(seen);
    assert.equal(answer.status, 200, `the app refused Glewlwyd's logout token: ${JSON.stringify(answer.body)}`);
    assert.equal(await meStatus(a.browser), 401, 'the logout token ended the login of that session');
    assert.equal(await meStatus(b.browser), 200, 'a login of another Glewlwyd session stays');
  });

  test('front-channel logout: the URL Glewlwyd\'s end-session page loads ends the app login of that session, without cookies', async () => {
    const a = await login();
    const b = await login();
    const { frontchannelLogoutUrls } = await gw!.endSessionPage(a.browser, a.me.sid as string);
    assert.equal(frontchannelLogoutUrls.length, 1);
    const url = new URL(frontchannelLogoutUrls[0]!);
    assert.equal(`${url.origin}${url.pathname}`, `${base}${FRONTCHANNEL}`);
    assert.equal(url.searchParams.get('iss'), gw!.issuer);
    assert.equal(url.searchParams.get('sid'), a.me.sid);

    // A frame of another site: the app's session cookie does not go with it.
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(await meStatus(a.browser), 401, 'the front-channel logout ended the login of that session');
    assert.equal(await meStatus(b.browser), 200, 'a login of another Glewlwyd session stays');
  });
});
