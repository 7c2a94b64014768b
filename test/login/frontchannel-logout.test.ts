/**
 * Front-channel logout (OpenID Connect Front-Channel Logout 1.0): the provider frames
 * /openid/<name>/frontchannel-logout?iss=…&sid=…, without the session cookie; the logins of that
 * sid end through the index. iss is required unless frontchannelLogoutRequiresIss is false.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { validIdTokenClaims } from '../support/hostile-provider.js';
import { showLoginAtMe, startHostileApp, type HostileApp } from '../support/hostile-app.js';
import type { Browser } from '../support/http-client.js';

let strict: HostileApp;
let lenient: HostileApp;
let sid = '';
before(async () => {
  strict = await startHostileApp({}, showLoginAtMe);
  lenient = await startHostileApp({ frontchannelLogoutRequiresIss: false }, showLoginAtMe);
  for (const fx of [strict, lenient]) fx.op.onToken((ctx) => fx.op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), sid }));
});
after(async () => {
  await strict.close();
  await lenient.close();
});

const loggedIn = async (fx: HostileApp, browser: Browser) => ((await (await browser.get(`${fx.base}/me`)).json()) as { login: unknown }).login !== null;
const frame = (fx: HostileApp, query: string) => fetch(`${fx.base}/openid/hostile/frontchannel-logout${query}`, { headers: { 'sec-fetch-dest': 'iframe', 'sec-fetch-site': 'cross-site' } });

test('iss and sid (no cookie): the logins of that sid end; 200, no-store, frameable', async () => {
  sid = randomUUID();
  const { browser } = await strict.login();
  const mine = sid;
  sid = randomUUID();
  const { browser: other } = await strict.login();
  const res = await frame(strict, `?iss=${encodeURIComponent(strict.op.issuer)}&sid=${mine}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('x-frame-options'), null);
  assert.equal(await loggedIn(strict, browser), false);
  assert.equal(await loggedIn(strict, other), true, 'another sid stays');
});

test('a wrong, missing or repeated parameter is 400 and ends nothing; sid alone only where allowed', async () => {
  sid = randomUUID();
  const { browser } = await strict.login();
  const iss = encodeURIComponent(strict.op.issuer);
  for (const query of [`?iss=https%3A%2F%2Fevil.example&sid=${sid}`, `?sid=${sid}`, `?iss=${iss}`, `?iss=${iss}&sid=${sid}&sid=${sid}`, '']) {
    assert.equal((await frame(strict, query)).status, 400, query);
  }
  assert.equal(await loggedIn(strict, browser), true);

  sid = randomUUID();
  const { browser: azure } = await lenient.login();
  assert.equal((await frame(lenient, `?sid=${sid}`)).status, 200);
  assert.equal(await loggedIn(lenient, azure), false, 'frontchannelLogoutRequiresIss: false takes sid alone (Azure AD)');
});
