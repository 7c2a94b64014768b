import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenIDError, type LoginResult } from '../../src/index.js';
import { startHostileApp } from '../support/hostile-app.js';

test('handleUserLogin gets the validated login and owns the response', async () => {
  const calls: LoginResult[] = [];
  const fx = await startHostileApp(
    {
      handleUserLogin: (ctx, login) => {
        calls.push(login);
        ctx.body = { welcome: login.claims.sub, to: login.returnTo };
      },
    },
    (app, openid) => app.use(openid.optional()).use((ctx) => (ctx.body = { user: ctx.state.user?.sub ?? null })),
  );
  try {
    const done = await fx.login(undefined, '/dash');
    assert.equal(done.status, 200, 'a hook that sets a body answers 200, as any Koa route');
    assert.deepEqual(JSON.parse(done.body), { welcome: 'alice', to: '/dash' });
    assert.equal(calls.length, 1);
    const login = calls[0]!;
    assert.equal(login.provider, 'hostile');
    assert.equal(typeof login.tokens.accessToken, 'string');
    assert.equal(typeof login.tokens.idToken, 'string');
    assert.deepEqual(login.scopes, ['openid', 'profile', 'email']);
    assert.ok(login.expiresAt! > Date.now() / 1000);
    // The login is stored: the next request sees it.
    const me = await (await done.browser.get(`${fx.base}/me`)).json();
    assert.equal(me.user, 'alice');
  } finally {
    await fx.close();
  }
});

test('handleUserLogin that sets no response lets the redirect to returnTo happen', async () => {
  const fx = await startHostileApp({ handleUserLogin: () => undefined });
  try {
    const b = fx.browser();
    const start = await b.get(`${fx.base}/openid/hostile/login?returnTo=/next`);
    const authorize = await b.get(start.headers.get('location')!);
    const callback = await b.get(authorize.headers.get('location')!);
    assert.equal(callback.status, 302);
    assert.equal(callback.headers.get('location'), '/next');
  } finally {
    await fx.close();
  }
});

test('a handleUserLogin that throws refuses the user: the login is removed', async () => {
  const fx = await startHostileApp(
    {
      handleUserLogin: () => {
        throw new OpenIDError('login_required', 'this account may not use the app', { status: 403 });
      },
    },
    (app, openid) => app.use(openid.optional()).use((ctx) => (ctx.body = { user: ctx.state.user?.sub ?? null })),
  );
  try {
    const done = await fx.login();
    assert.equal(done.status, 403);
    assert.equal(JSON.parse(done.body).error_description, 'this account may not use the app');
    const me = await (await done.browser.get(`${fx.base}/me`)).json();
    assert.equal(me.user, null);
  } finally {
    await fx.close();
  }
});

test('handleError renders errors of the routes and guards', async () => {
  const seen: string[] = [];
  const fx = await startHostileApp(
    {
      handleError: (ctx, err) => {
        seen.push(err.code);
        ctx.status = err.status;
        ctx.body = `custom page: ${err.code}`;
      },
    },
    (app, openid) => app.use(openid.required({ redirect: false })),
  );
  try {
    const b = fx.browser();
    const cb = await b.get(`${fx.base}/openid/hostile/auth?code=x`);
    assert.equal(cb.status, 400);
    assert.equal(await cb.text(), 'custom page: invalid_state');
    const guarded = await b.get(`${fx.base}/private`);
    assert.equal(guarded.status, 401);
    assert.equal(await guarded.text(), 'custom page: login_required');
    assert.deepEqual(seen, ['invalid_state', 'login_required']);
  } finally {
    await fx.close();
  }
});

test('the callback accepts POST (response_mode=form_post) with a size limit', async () => {
  const fx = await startHostileApp({ responseMode: 'form_post' });
  try {
    const b = fx.browser();
    const start = await b.get(`${fx.base}/openid/hostile/login?returnTo=/posted`);
    const authorize = await b.get(start.headers.get('location')!);
    const params = new URLSearchParams([...(await authorize.text()).matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    assert.ok(params.has('code') && params.has('state'), 'the provider answered with its auto-posting form');
    const posted = await b.post(`${fx.base}/openid/hostile/auth`, params);
    assert.equal(posted.status, 302);
    assert.equal(posted.headers.get('location'), '/posted');

    const huge = await b.post(`${fx.base}/openid/hostile/auth`, { state: 'x'.repeat(70 * 1024) });
    assert.equal(huge.status, 413);
    const json = await fetch(`${fx.base}/openid/hostile/auth`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(json.status, 415);
    // form_post mode: a GET (tokens or a code in a URL) is not what the provider was asked to send.
    const get = await fetch(`${fx.base}/openid/hostile/auth?code=abc&state=${'s'.repeat(20)}`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
  } finally {
    await fx.close();
  }
});

test('in query mode a POST to the callback is refused: 405, Allow: GET', async () => {
  const fx = await startHostileApp();
  try {
    const b = fx.browser();
    const start = await b.get(`${fx.base}/openid/hostile/login?returnTo=/posted`);
    const authorize = await b.get(start.headers.get('location')!);
    const params = new URL(authorize.headers.get('location')!).searchParams;
    const posted = await b.post(`${fx.base}/openid/hostile/auth`, params, { headers: { accept: 'application/json' } });
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.get('allow'), 'GET');
    assert.equal(((await posted.json()) as { error: string }).error, 'invalid_request');
    // The login is still pending: the right method completes it.
    const done = await b.get(authorize.headers.get('location')!);
    assert.equal(done.status, 302);
    assert.equal(done.headers.get('location'), '/posted');
  } finally {
    await fx.close();
  }
});
