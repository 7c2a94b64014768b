/**
 * Silent login (`prompt=none`, OpenID Connect Core §3.1.2.1): `required({ silent: true })` tries it
 * once per session; the provider's "not without the user" answers bring the browser back, not
 * logged in and without an error page, and the normal login follows without a loop.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type Koa from 'koa';
import type { OpenID } from '../../src/index.js';
import { startHostileApp, type HostileApp } from '../support/hostile-app.js';
import type { Browser } from '../support/http-client.js';
import { newRedis } from '../support/redis.js';

let fx: HostileApp;
const redis = newRedis();

function routes(app: Koa, openid: OpenID) {
  const silent = openid.required({ silent: true });
  app.use(async (ctx, next) => {
    if (ctx.path === '/private') return silent(ctx, async () => void (ctx.body = `hello ${ctx.state.user!.sub}`));
    if (ctx.path === '/try-silently') return openid.login(ctx, { prompt: 'none', returnTo: '/welcome' });
    if (ctx.path === '/welcome') {
      ctx.body = (await openid.session(ctx)) ? 'logged in' : 'not logged in';
      return;
    }
    return next();
  });
}

before(async () => {
  fx = await startHostileApp({}, routes);
});
after(async () => {
  await fx.close();
  await redis.quit();
});
beforeEach(() => fx.op.onAuthorize(undefined));

/** The provider has no session for the user: `prompt=none` is answered with `error`. */
function noProviderSession(error = 'login_required') {
  fx.op.onAuthorize((redirect, request) => {
    if (request.params.get('prompt') !== 'none') return;
    redirect.delete('code');
    redirect.set('error', error);
  });
}

const prompts = (from: number) => fx.op.authorizations.slice(from).map((a) => a.params.get('prompt'));

async function visit(browser: Browser, path: string) {
  const { response, urls } = await browser.follow(fx.base + path, { navigation: true });
  return { status: response.status, body: await response.text(), urls };
}

test('a provider still logged in: the silent login logs the user in without a page', async () => {
  const from = fx.op.authorizations.length;
  const browser = fx.browser();
  const res = await visit(browser, '/private');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'hello alice');
  assert.deepEqual(prompts(from), ['none']);
});

for (const error of ['login_required', 'interaction_required', 'consent_required', 'account_selection_required']) {
  test(`${error} brings the browser back not logged in; the normal login follows, once`, async () => {
    noProviderSession(error);
    const from = fx.op.authorizations.length;
    const browser = fx.browser();
    const res = await visit(browser, '/private');
    assert.equal(res.status, 200, 'no error page');
    assert.equal(res.body, 'hello alice', 'logged in by the normal login');
    assert.deepEqual(prompts(from), ['none', null], 'one silent try, then the normal login');
    assert.ok(res.urls.some((u) => new URL(u).pathname === '/private' && !u.includes('/openid/')), 'came back to the page in between');
    // The silent try is over for this session: once its login is gone, the normal login comes at once.
    const key = fx.prefix + browser.cookies(fx.base)['koa-session-openid']!.slice(1, 23);
    await redis.hdel(key, 'l:hostile', 't:hostile');
    const again = fx.op.authorizations.length;
    await visit(browser, '/private');
    assert.ok(!prompts(again).includes('none'), `no second silent try (${prompts(again)})`);
  });
}

test('another error of a silent login (access_denied) is the usual error page', async () => {
  noProviderSession('access_denied');
  const res = await visit(fx.browser(), '/private');
  assert.equal(res.status, 400);
  assert.match(res.body, /provider_error/);
});

test('login(ctx, { prompt: "none" }) from a route: login_required returns to returnTo, not logged in', async () => {
  noProviderSession();
  const browser = fx.browser();
  const res = await visit(browser, '/try-silently');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'not logged in');
  assert.equal(new URL(res.urls.at(-1)!).pathname, '/welcome');
});

test('required({ silent }) is validated at setup', () => {
  assert.throws(() => fx.openid.required({ silent: 'yes' as unknown as boolean }), /silent.*true or false/);
});
