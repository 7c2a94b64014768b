import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type Koa from 'koa';
import { type OpenID } from '../../src/index.js';
import { validIdTokenClaims } from '../support/hostile-provider.js';
import { renderingErrors, startHostileApp, type HostileApp } from '../support/hostile-app.js';
import { newRedis } from '../support/redis.js';

const redis = newRedis();

function routes(app: Koa, openid: OpenID) {
  app.use(renderingErrors(openid));
  app.use(async (ctx) => {
    if (ctx.path === '/refresh') {
      const login = await openid.refresh(ctx);
      ctx.body = { accessToken: login.tokens.accessToken, expiresAt: login.expiresAt, sub: login.claims.sub };
    } else if (ctx.path === '/expire') {
      const key = fx.prefix + ctx.cookies.get('koa-session-openid')!.slice(1, 23);
      const hot = JSON.parse((await redis.hget(key, 'l:hostile'))!);
      await redis.hset(key, 'l:hostile', JSON.stringify({ ...hot, e: 1 }));
      ctx.body = 'expired';
    } else if (ctx.path === '/userinfo') {
      ctx.body = await openid.userInfo(ctx);
    } else {
      ctx.body = { login: (await openid.session(ctx)) ?? null };
    }
  });
}

let fx: HostileApp;
before(async () => {
  fx = await startHostileApp({ scopes: ['openid', 'offline_access'] }, routes);
});
after(async () => {
  await fx.close();
  await redis.quit();
});

test('refresh renews the tokens; a new ID token must name the same sub', async () => {
  const { browser } = await fx.login();
  const before = (await (await browser.get(`${fx.base}/me`)).json()).login;
  assert.equal(typeof before.tokens.refreshToken, 'string');

  const res = await browser.get(`${fx.base}/refresh`);
  const body = await res.json();
  assert.equal(res.status, 200);
  assert.notEqual(body.accessToken, before.tokens.accessToken);
  assert.equal(body.sub, 'alice');
  assert.equal(fx.op.tokenRequests.at(-1)!.body.get('grant_type'), 'refresh_token');

  fx.op.onToken((ctx) => fx.op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sub: 'mallory' }));
  try {
    const swapped = await browser.get(`${fx.base}/refresh`);
    assert.equal(swapped.status, 400);
    assert.equal((await swapped.json()).error, 'invalid_id_token');
    const kept = (await (await browser.get(`${fx.base}/me`)).json()).login;
    assert.equal(kept.claims.sub, 'alice', 'the login is unchanged');
  } finally {
    fx.op.onToken(undefined);
  }
});

test('an expired access token is refreshed before userinfo', async () => {
  const { browser } = await fx.login();
  await browser.get(`${fx.base}/expire`);
  const count = fx.op.tokenRequests.length;
  const info = await browser.get(`${fx.base}/userinfo`);
  assert.equal(info.status, 200);
  assert.equal((await info.json()).sub, 'alice');
  assert.equal(fx.op.tokenRequests.length, count + 1);
  assert.equal(fx.op.tokenRequests.at(-1)!.body.get('grant_type'), 'refresh_token');
});

test('a refused refresh token ends the login', async () => {
  const { browser } = await fx.login();
  fx.op.onToken(() => ({ status: 400, json: { error: 'invalid_grant', error_description: 'revoked' } }));
  try {
    const res = await browser.get(`${fx.base}/refresh`);
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.error, 'login_required');
    assert.equal(body.provider_error, 'invalid_grant');
    assert.equal((await (await browser.get(`${fx.base}/me`)).json()).login, null);
  } finally {
    fx.op.onToken(undefined);
  }
});

test('two requests that find the token expired share one refresh grant', async () => {
  const { browser } = await fx.login();
  await browser.get(`${fx.base}/expire`);
  const count = fx.op.tokenRequests.length;
  // A slow token endpoint: both requests are surely in flight while the grant is.
  fx.op.onToken(async (ctx) => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return fx.op.tokenAnswer(ctx);
  });
  try {
    const [a, b] = await Promise.all([browser.get(`${fx.base}/userinfo`), browser.get(`${fx.base}/userinfo`)]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
  } finally {
    fx.op.onToken(undefined);
  }
  assert.equal(fx.op.tokenRequests.length, count + 1, 'one grant for both');
  assert.equal((await (await browser.get(`${fx.base}/me`)).json()).login.claims.sub, 'alice', 'still logged in');
});
