/**
 * RP-Initiated Logout 1.0: the logout route ends the login here and sends the browser to the
 * provider's end_session_endpoint with id_token_hint, client_id, the configured
 * post_logout_redirect_uri and a single-use state; the post-logout route checks that state
 * (OIDF rp-init-logout, -other-state, -no-state); a cross-site request only gets a confirmation.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { showLoginAtMe, startHostileApp, type HostileApp } from '../support/hostile-app.js';
import type { Browser } from '../support/http-client.js';

let fx: HostileApp;
before(async () => {
  fx = await startHostileApp({}, showLoginAtMe);
  fx.op.discovery.end_session_endpoint = `${fx.op.issuer}/end-session`;
});
after(() => fx.close());

const SAME = { 'sec-fetch-site': 'same-origin' };
const loggedIn = async (browser: Browser) => ((await (await browser.get(`${fx.base}/me`)).json()) as { login: unknown }).login !== null;

async function logout(browser: Browser) {
  const res = await browser.get(`${fx.base}/openid/hostile/logout`, { headers: SAME });
  assert.equal(res.status, 302);
  return new URL(res.headers.get('location')!);
}

test('logout ends the login here and redirects to end_session with id_token_hint, client_id, post_logout_redirect_uri and state', async () => {
  const { browser } = await fx.login();
  const idToken = ((await (await browser.get(`${fx.base}/me`)).json()) as { login: { tokens: { idToken: string } } }).login.tokens.idToken;
  const to = await logout(browser);
  assert.equal(`${to.origin}${to.pathname}`, `${fx.op.issuer}/end-session`);
  assert.equal(to.searchParams.get('id_token_hint'), idToken);
  assert.equal(to.searchParams.get('client_id'), 'hostile-client');
  assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${fx.base}/openid/hostile/logged-out`);
  assert.match(to.searchParams.get('state')!, /^[\w-]{43}$/);
  assert.equal(await loggedIn(browser), false, 'logged out here at once');

  // rp-init-logout: the provider sends the browser back with the state: on to postLogoutReturnTo.
  const back = await browser.get(`${fx.base}/openid/hostile/logged-out?state=${to.searchParams.get('state')}`);
  assert.equal(back.status, 302);
  assert.equal(back.headers.get('location'), '/');
  // Single use: the same state again is unconfirmed.
  const again = await browser.get(`${fx.base}/openid/hostile/logged-out?state=${to.searchParams.get('state')}`);
  assert.equal(again.status, 200);
  assert.match(await again.text(), /could not be confirmed/);
});

test('rp-init-logout-other-state and -no-state: a page, no redirect', async () => {
  const { browser } = await fx.login();
  await logout(browser);
  for (const query of ['?state=another-state-0123456789abcdef', '', '?state=', '?state=%00']) {
    const res = await browser.get(`${fx.base}/openid/hostile/logged-out${query}`);
    assert.equal(res.status, 200, query);
    assert.equal(res.headers.get('location'), null, query);
    assert.match(await res.text(), /logged out of this app/i, query);
  }
});

test('a cross-site request to the logout route gets a confirmation page; its same-origin POST logs out', async () => {
  const { browser } = await fx.login();
  const cases: Array<Record<string, string>> = [
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
    { origin: 'https://evil.example' },
    {},
    { 'sec-fetch-site': 'same-origin', 'sec-purpose': 'prefetch' },
  ];
  for (const headers of cases) {
    const res = await browser.get(`${fx.base}/openid/hostile/logout`, { headers });
    assert.equal(res.status, 200, JSON.stringify(headers));
    const page = await res.text();
    assert.match(page, /<form method="post" action="\/openid\/hostile\/logout">/);
    assert.equal(await loggedIn(browser), true, `still logged in after ${JSON.stringify(headers)}`);
  }
  const crossPost = await browser.post(`${fx.base}/openid/hostile/logout`, {}, { headers: { origin: 'https://evil.example' } });
  assert.equal(crossPost.status, 200);
  assert.equal(await loggedIn(browser), true, 'a cross-site POST does not log out either');
  assert.equal((await fetch(`${fx.base}/openid/hostile/logout`, { method: 'HEAD', headers: { ...SAME, cookie: browser.cookieHeader(fx.base) } })).status, 404, 'a HEAD is not a logout');
  assert.equal(await loggedIn(browser), true);
  const post = await browser.post(`${fx.base}/openid/hostile/logout`, {}, { headers: { origin: fx.base } });
  assert.equal(post.status, 302);
  assert.equal(await loggedIn(browser), false);
});
