/** The default error pages: styled, with "Try again" (the login route) and "Home", in plain words. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHostileApp } from '../support/hostile-app.js';

test('a user who cancelled at the provider is told so, with a "Try again" link to the login route', async () => {
  const fx = await startHostileApp({ defaultReturnTo: '/home' });
  try {
    fx.op.onAuthorize((redirect) => {
      redirect.delete('code');
      redirect.set('error', 'access_denied');
    });
    const b = fx.browser();
    const start = await b.get(`${fx.base}/openid/hostile/login`);
    const callback = (await b.get(start.headers.get('location')!)).headers.get('location')!;
    const page = await b.get(callback, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 400);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await page.text();
    assert.match(html, /<style>/);
    assert.match(html, /<h1>Login failed<\/h1>/);
    assert.match(html, /The login was cancelled/);
    assert.match(html, /<a class="button primary" href="\/openid\/hostile\/login">Try again<\/a>/);
    assert.match(html, /href="\/home">Home</);
    assert.doesNotMatch(html, /did not complete/);

    // API clients get the JSON, unchanged.
    const again = (await b.get((await b.get(`${fx.base}/openid/hostile/login`)).headers.get('location')!)).headers.get('location')!;
    const json = await b.get(again, { headers: { accept: 'application/json' } });
    assert.deepEqual(await json.json(), { error: 'provider_error', error_description: 'the provider did not complete the login', provider_error: 'access_denied' });
  } finally {
    await fx.close();
  }
});

test('a provider that is down gets a "temporarily unavailable" page, escaped and without secrets', async () => {
  const fx = await startHostileApp({ timeout: 1, jwksCooldown: 0 });
  try {
    fx.op.down = true;
    const page = await fx.browser().get(`${fx.base}/openid/hostile/login?returnTo=%2F%3Cscript%3E`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 503);
    const html = await page.text();
    assert.match(html, /<h1>Temporarily unavailable<\/h1>/);
    assert.match(html, />Try again</);
    assert.doesNotMatch(html, /<script/);
    assert.doesNotMatch(html, /hostile-secret-value/);
  } finally {
    fx.op.down = false;
    await fx.close();
  }
});
