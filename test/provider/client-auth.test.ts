/**
 * client_secret_basic as RFC 6749 §2.3.1 asks (application/x-www-form-urlencoded inside HTTP
 * Basic), and what a refusal of our client means. test/interop/glewlwyd.test.ts runs it against a
 * real provider that compares the raw values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerMetadata } from 'openid-client';
import { clientSecretBasic, formEncode } from '../../src/provider/client-auth.js';
import { startHostileApp, showLoginAtMe, sessionLogin } from '../support/hostile-app.js';

test('formEncode leaves letters, digits and *-._ as they are, "+" for a space, %XX for the rest', () => {
  assert.equal(formEncode('my-app.v2_x*'), 'my-app.v2_x*');
  assert.equal(formEncode("a b~!'()"), 'a+b%7E%21%27%28%29');
  assert.equal(formEncode('ä:/?#&='), '%C3%A4%3A%2F%3F%23%26%3D');
});

test('client_secret_basic sends the form-encoded id and secret: "-._*" reach the provider unchanged', () => {
  const headers = new Headers();
  clientSecretBasic('s3cret-value.with_chars*~ ')({} as ServerMetadata, { client_id: 'koa-app.v2_test' }, new URLSearchParams(), headers);
  const basic = /^Basic (.+)$/.exec(headers.get('authorization') ?? '');
  assert.ok(basic);
  assert.equal(Buffer.from(basic[1]!, 'base64').toString('utf8'), 'koa-app.v2_test:s3cret-value.with_chars*%7E+');
});

test('the token endpoint refusing our client (401 challenge, invalid_client, unauthorized_client) is a 502 invalid_client, never invalid_token', async () => {
  const fx = await startHostileApp();
  try {
    for (const answer of [
      { status: 401, json: { error: 'invalid_client' }, headers: { 'www-authenticate': 'Basic realm="op"' } },
      { status: 401, json: { error: 'invalid_client' } },
      { status: 403, json: { error: 'unauthorized_client' } },
      { status: 400, json: { error: 'invalid_client' } },
    ]) {
      fx.op.onToken(() => answer);
      const res = await fx.login();
      assert.equal(res.status, 502, `${JSON.stringify(answer)}: ${res.body}`);
      const body = JSON.parse(res.body) as { error: string; provider_error?: string };
      assert.equal(body.error, 'invalid_client');
      assert.equal(body.provider_error, answer.json.error);
    }
  } finally {
    await fx.close();
  }
});

/** A hostile-provider app with refresh tokens: `GET /refresh` refreshes the login, `GET /me` shows it. */
function startRefreshApp() {
  return startHostileApp({ scopes: ['openid', 'offline_access'] }, (app, openid) => {
    app.use(async (ctx, next) => {
      if (ctx.path !== '/refresh') return next();
      try {
        await openid.refresh(ctx);
        ctx.body = 'ok';
      } catch (err) {
        await openid.renderError(ctx, err as never);
      }
    });
    showLoginAtMe(app, openid);
  });
}

test('a refresh refused because of our client keeps the login (502), unlike a refused refresh token', async () => {
  const fx = await startRefreshApp();
  try {
    const { browser } = await fx.login(undefined, '/me');
    fx.op.onToken(() => ({ status: 401, json: { error: 'invalid_client' }, headers: { 'www-authenticate': 'Basic realm="op"' } }));
    const res = await browser.get(`${fx.base}/refresh`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
    assert.equal((await sessionLogin(fx, browser))?.claims.sub, 'alice', 'still logged in');
  } finally {
    await fx.close();
  }
});

test('a refused refresh token with a WWW-Authenticate header (Doorkeeper sends one with every error) still ends the login', async () => {
  const fx = await startRefreshApp();
  try {
    const { browser } = await fx.login(undefined, '/me');
    fx.op.onToken(() => ({ status: 400, json: { error: 'invalid_grant' }, headers: { 'www-authenticate': 'Bearer realm="op", error="invalid_grant"' } }));
    const res = await browser.get(`${fx.base}/refresh`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { error: string; provider_error?: string };
    assert.equal(body.error, 'login_required');
    assert.equal(body.provider_error, 'invalid_grant');
    assert.equal(await sessionLogin(fx, browser), null, 'the login ended');
  } finally {
    await fx.close();
  }
});
