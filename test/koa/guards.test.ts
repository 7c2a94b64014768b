/**
 * Guards with options guard both paths: `scopes` and `check` (at the top of `required()` or inside
 * its `bearer` options) apply to session logins and to bearer tokens alike.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Router from '@koa/router';
import type { Context } from 'koa';
import { OpenIDError } from '../../src/index.js';
import { startHostileApp, type HostileApp } from '../support/hostile-app.js';
import type { Browser } from '../support/http-client.js';

const show = (ctx: Context) => {
  ctx.body = { sub: ctx.state.user?.sub, token: ctx.state.openid?.token };
};

describe('required() with scopes and check', () => {
  let fx: HostileApp;
  let browser: Browser;
  const json = { accept: 'application/json' };
  const asSession = (path: string) => browser.get(`${fx.base}${path}`, { headers: json });
  const asBearer = async (path: string, claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = await fx.op.sign({ iss: fx.op.issuer, aud: 'hostile-client', sub: 'alice', iat: now, exp: now + 300, ...claims }, { typ: 'at+jwt' });
    return fetch(`${fx.base}${path}`, { headers: { ...json, authorization: `Bearer ${jwt}` } });
  };

  before(async () => {
    // The session login is granted openid profile email (the configured scopes).
    fx = await startHostileApp({}, (app, openid) => {
      const router = new Router();
      router.get('/bearer-admin', openid.required({ bearer: { scopes: ['admin'] } }), show);
      router.get('/bearer-email', openid.required({ bearer: { scopes: ['email'] } }), show);
      router.get('/bearer-check', openid.required({ bearer: { check: (claims) => claims.sub === 'root' } }), show);
      router.get('/admin', openid.required({ scopes: ['admin'] }), show);
      router.get('/email', openid.required({ scopes: ['email'] }), show);
      router.get('/root-only', openid.required({ check: (claims) => claims.sub === 'root' }), show);
      router.get('/both-checks', openid.required({ check: () => true, bearer: { check: () => false } }), show);
      router.get('/claims-root', openid.required({ claims: (claims) => claims.sub === 'root', bearer: true }), show);
      router.get('/claims-and-check', openid.required({ claims: () => true, check: () => false }), show);
      router.get('/async-check', openid.required({ check: async (claims, ctx) => claims.sub === ctx.get('x-user') }), show);
      router.get('/throwing-check', openid.required({
        check: () => {
          throw new OpenIDError('insufficient_scope', 'needs the admin role');
        },
      }), show);
      app.use(router.routes());
    });
    browser = (await fx.login()).browser;
  });
  after(() => fx.close());

  test('a session login lacking the scopes of required({ bearer: { scopes } }) is refused: 403 insufficient_scope', async () => {
    const res = await asSession('/bearer-admin');
    assert.equal(res.status, 403, await res.clone().text());
    assert.equal(((await res.json()) as { error: string }).error, 'insufficient_scope');
    const ok = await asSession('/bearer-email');
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { sub: 'alice', token: 'session' });
  });

  test('a session login refused by the check of required({ bearer: { check } }): 403 forbidden', async () => {
    const res = await asSession('/bearer-check');
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: string }).error, 'forbidden');
  });

  test('top-level scopes and check apply to session logins', async () => {
    assert.equal((await asSession('/admin')).status, 403);
    assert.equal((await asSession('/email')).status, 200);
    assert.equal((await asSession('/root-only')).status, 403);
    assert.equal((await browser.get(`${fx.base}/async-check`, { headers: { ...json, 'x-user': 'alice' } })).status, 200);
    assert.equal((await browser.get(`${fx.base}/async-check`, { headers: { ...json, 'x-user': 'bob' } })).status, 403);
  });

  test('an OpenIDError thrown by a check is rendered like any refusal (JSON, handleError), not a 500', async () => {
    const res = await asSession('/throwing-check');
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { error: 'insufficient_scope', error_description: 'needs the admin role' });
  });

  test('both checks must pass when both are given', async () => {
    assert.equal((await asSession('/both-checks')).status, 403);
    assert.equal((await asSession('/claims-and-check')).status, 403, 'claims and check');
  });

  test('required({ claims }) guards session logins and bearer tokens alike', async () => {
    const res = await asSession('/claims-root');
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: string }).error, 'forbidden');
    assert.equal((await asBearer('/claims-root', { sub: 'someone' })).status, 401);
    assert.equal((await asBearer('/claims-root', { sub: 'root' })).status, 200);
  });

  test('bearer tokens still obey the bearer scopes and check', async () => {
    assert.equal((await asBearer('/bearer-admin', { scope: 'openid' })).status, 403);
    assert.equal((await asBearer('/bearer-admin', { scope: 'admin' })).status, 200);
    assert.equal((await asBearer('/bearer-check', { sub: 'someone' })).status, 401);
    assert.equal((await asBearer('/bearer-check', { sub: 'root' })).status, 200);
  });

  test('bad guard options are a TypeError at setup, naming the option', () => {
    assert.throws(() => fx.openid.required({ scopes: ['a b'] }), /"scopes\.0"/);
    assert.throws(() => fx.openid.required({ check: 'yes' as never }), /"check" must be a function/);
    assert.throws(() => fx.openid.required({ bearer: { scopes: 'admin' as never } }), /"bearer/);
    assert.throws(() => fx.openid.required({ redirects: false } as never), /unknown option "redirects"/);
  });
});
