/**
 * The `userInfo: true` option: claims that only userinfo carries (OpenID Connect Core §5.4) are
 * fetched once at login, their `sub` checked, and merged into the stored login (the ID token wins).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Router from '@koa/router';
import { resolveOptions } from '../../src/options.js';
import { login, startFixture } from '../support/fixture.js';
import { showLoginAtMe, sessionLogin, startHostileApp } from '../support/hostile-app.js';

test('oidc-provider puts email in userinfo only: userInfo: true brings it into the login', async () => {
  const fx = await startFixture(
    [
      { name: 'plain', options: { scopes: ['openid', 'email'] } },
      { name: 'merged', options: { scopes: ['openid', 'email'], userInfo: true } },
    ],
    (app, openid) => {
      const router = new Router();
      router.get('/claims/:name', (ctx) => (ctx.body = openid[ctx.params.name!]!.session(ctx)?.claims ?? null));
      app.use(router.routes());
    },
  );
  try {
    const b = fx.browser();
    await login(b, fx, 'plain');
    await login(b, fx, 'merged');
    const plain = (await (await b.get(`${fx.base}/claims/plain`)).json()) as Record<string, unknown>;
    const merged = (await (await b.get(`${fx.base}/claims/merged`)).json()) as Record<string, unknown>;
    assert.equal(plain.email, undefined, 'the ID token alone has no email');
    assert.equal(merged.email, 'alice@example.test');
    assert.equal(merged.email_verified, true);
    assert.equal(merged.sub, 'alice');
    assert.equal(merged.iss, fx.ops.merged!.issuer, 'the ID token claims are all there');
    assert.equal(typeof merged.iat, 'number');
  } finally {
    await fx.close();
  }
});

test('the ID token wins on a conflict; a userinfo answer about someone else fails the login', async () => {
  const fx = await startHostileApp({ userInfo: true, scopes: ['openid', 'offline_access'] }, (app, openid) => {
    app.use(async (ctx, next) => {
      if (ctx.path !== '/refresh') return next();
      ctx.body = (await openid.refresh(ctx)).claims;
    });
    showLoginAtMe(app, openid);
  });
  try {
    fx.op.onUserinfo((ctx) => ({ json: { sub: ctx.sub, iss: 'https://evil.example', email: 'alice@example.com', nickname: 'al' } }));
    const b = fx.browser();
    const done = await fx.login(b, '/me');
    assert.equal(done.status, 200, done.body);
    const stored = (await sessionLogin(fx, b)) as unknown as { claims: Record<string, unknown> };
    assert.equal(stored.claims.iss, fx.op.issuer, 'the ID token\'s iss, not the userinfo one');
    assert.equal(stored.claims.email, 'alice@example.com');
    assert.equal(stored.claims.nickname, 'al');
    // A refresh brings a new ID token: its claims replace the old ones, the userinfo ones stay.
    const refreshed = (await (await b.get(`${fx.base}/refresh`)).json()) as Record<string, unknown>;
    assert.equal(refreshed.email, 'alice@example.com');
    assert.equal(refreshed.iss, fx.op.issuer);

    fx.op.onUserinfo(() => ({ json: { sub: 'mallory', email: 'mallory@example.com' } }));
    const other = fx.browser();
    const refused = await fx.login(other, '/me');
    assert.equal(refused.status, 502, refused.body);
    assert.equal((JSON.parse(refused.body) as { error: string }).error, 'userinfo_failed');
    assert.equal(await sessionLogin(fx, other), null, 'no login stored');
  } finally {
    await fx.close();
  }
});

test('userInfo needs an access token: a setup TypeError with responseType id_token', () => {
  const base = { name: 'x', clientId: 'c', configuration: 'https://op.example/' };
  assert.throws(() => resolveOptions({ ...base, userInfo: true, responseType: 'id_token' }), /"userInfo" needs an access token/);
  assert.doesNotThrow(() => resolveOptions({ ...base, userInfo: true, responseType: 'id_token token' }));
});
