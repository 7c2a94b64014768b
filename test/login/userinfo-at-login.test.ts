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
      router.get('/claims/:name', async (ctx) => (ctx.body = (await openid[ctx.params.name!]!.session(ctx))?.claims ?? null));
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
    // A refresh brings a new ID token and asks userinfo again: its claims follow the new grant.
    fx.op.onUserinfo((ctx) => ({ json: { sub: ctx.sub, email: 'alice@new.example.com' } }));
    const refreshed = (await (await b.get(`${fx.base}/refresh`)).json()) as Record<string, unknown>;
    assert.equal(refreshed.email, 'alice@new.example.com');
    assert.equal(refreshed.nickname, undefined, 'a claim userinfo no longer sends is gone');
    assert.equal(refreshed.iss, fx.op.issuer);
    // Userinfo failing during a refresh: the refresh still succeeds, the claims stay.
    fx.op.onUserinfo(() => ({ status: 500, text: 'down' }));
    const kept = await b.get(`${fx.base}/refresh`);
    assert.equal(kept.status, 200);
    assert.equal(((await kept.json()) as Record<string, unknown>).email, 'alice@new.example.com');
    fx.op.onUserinfo((ctx) => ({ json: { sub: ctx.sub, iss: 'https://evil.example', email: 'alice@example.com', nickname: 'al' } }));

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

test('userInfo with a provider that has no userinfo endpoint fails discovery, saying so', async () => {
  const fx = await startHostileApp({ userInfo: true });
  try {
    delete fx.op.discovery.userinfo_endpoint;
    const res = await fx.browser().get(`${fx.base}/openid/hostile/login`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { error_description: string }).error_description, /no "userinfo_endpoint" \(option userInfo\)/);
  } finally {
    await fx.close();
  }
});

test('a userinfo 401 for the access token just issued is the provider\'s failure (502 userinfo_failed), not invalid_token', async () => {
  const fx = await startHostileApp({ userInfo: true }, showLoginAtMe);
  try {
    fx.op.onUserinfo(() => ({ status: 401, text: '', headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }));
    const res = await fx.login(undefined, '/me');
    assert.equal(res.status, 502, res.body);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'userinfo_failed');
  } finally {
    await fx.close();
  }
});

test('userInfo needs an access token: a setup TypeError with responseType id_token', () => {
  const base = { name: 'x', clientId: 'c', configuration: 'https://op.example/' };
  assert.throws(() => resolveOptions({ ...base, userInfo: true, responseType: 'id_token' }), /"userInfo" needs an access token/);
  assert.doesNotThrow(() => resolveOptions({ ...base, userInfo: true, responseType: 'id_token token' }));
});
