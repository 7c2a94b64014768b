/**
 * A @koa/router Router with a prefix: the routes are registered under it, so every URL the
 * library builds (loginUrl, the required() redirect, the redirect_uri) must carry it too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { OpenID, redisSession } from '../../src/index.js';
import { startHostileProvider } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';

test('a Router prefix is honoured by loginUrl(), the required() redirect and the redirect_uri: the login completes', async () => {
  const op = await startHostileProvider({ clientId: 'prefixed' });
  const app = new Koa();
  app.keys = ['k'];
  const sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('prefix') });
  app.use(sessions);
  const router = new Router({ prefix: '/sso' });
  const openid = new OpenID(router, {
    name: 'op', clientId: 'prefixed', clientSecret: 'prefixed-secret-0123456789abcdef', configuration: op.discoveryUrl, allowInsecureRequests: true,
  });
  router.get('/private', openid.required(), (ctx) => (ctx.body = { sub: ctx.state.user?.sub, loginUrl: openid.loginUrl('/x') }));
  app.use(router.routes());
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal(openid.loginUrl(), '/sso/openid/op/login');
    const b = new Browser();
    const guarded = await b.get(`${base}/sso/private`, { headers: { accept: 'text/html' } });
    assert.equal(guarded.status, 302);
    assert.equal(guarded.headers.get('location'), '/sso/openid/op/login?returnTo=%2Fsso%2Fprivate');

    const { response, urls } = await b.follow(`${base}${guarded.headers.get('location')}`);
    assert.equal(op.authorizations.at(-1)!.params.get('redirect_uri'), `${base}/sso/openid/op/auth`);
    assert.ok(urls.some((u) => u.startsWith(`${base}/sso/openid/op/auth?`)), urls.join(' '));
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(await response.json(), { sub: 'alice', loginUrl: '/sso/openid/op/login?returnTo=%2Fx' });
  } finally {
    server.closeAllConnections();
    server.close();
    await sessions.close();
    await op.close();
  }
});
