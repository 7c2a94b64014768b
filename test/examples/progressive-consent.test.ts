/**
 * examples/progressive-consent against a real oidc-provider: a login with `openid profile`, the
 * e-mail page refuses it (403 insufficient_scope, or the upgrade offer for browsers), the upgrade
 * login asks the provider for `email` only, then the page works and the earlier scopes are kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgressiveConsentApp } from '../../examples/progressive-consent/app.js';
import { Browser } from '../support/http-client.js';
import { redisUrl } from '../support/redis.js';
import { listen, startProvider } from './oidc-provider.js';

test('examples/progressive-consent: insufficient_scope until the upgrade login grants email; profile stays', async () => {
  const server = await listen();
  const base = server.origin;
  const op = await startProvider({
    clients: [{ client_id: 'consent-app', client_secret: 'consent-app-secret', redirect_uris: [`${base}/openid/sso/auth`] }],
    accounts: { alice: { name: 'Alice Example', email: 'alice@example.test', email_verified: true } },
  });
  op.signInAs('alice');
  const example = createProgressiveConsentApp({
    provider: { configuration: op.issuer, clientId: 'consent-app', clientSecret: 'consent-app-secret', allowInsecureRequests: true },
    baseUrl: base,
    redisUrl: redisUrl(),
  });
  server.setHandler(example.app.callback());
  const html = { accept: 'text/html' };
  try {
    const browser = new Browser();
    const first = await browser.follow(`${base}/openid/sso/login?returnTo=/`, { navigation: true });
    assert.equal(first.response.status, 200);
    assert.match(await first.response.text(), /data-testid="scopes">openid profile</);
    assert.deepEqual(op.consents, [['openid', 'profile']]);

    // The page needs `email`: API clients get the library's 403, browsers the offer to grant it.
    const refused = await browser.get(`${base}/email`, { headers: { accept: 'application/json' } });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: string }).error, 'insufficient_scope');
    const offer = await browser.get(`${base}/email`, { headers: html });
    assert.equal(offer.status, 403);
    assert.match(await offer.text(), /href="\/more-scopes\/email"/);

    // The upgrade: the provider is asked to consent to `email` alone, and the browser lands on /email.
    const upgraded = await browser.follow(`${base}/more-scopes/email`, { navigation: true });
    assert.equal(upgraded.urls.at(-1), `${base}/email`);
    assert.equal(upgraded.response.status, 200);
    assert.deepEqual(op.consents, [['openid', 'profile'], ['email']]);
    const authorize = new URL(upgraded.urls.find((u) => u.startsWith(`${op.issuer}/auth?`))!);
    assert.deepEqual(authorize.searchParams.get('scope')!.split(' ').sort(), ['email', 'openid', 'profile'], 'the held scopes are asked again');
    const body = await upgraded.response.text();
    assert.match(body, /data-testid="email">alice@example\.test</);
    // `name` comes from userinfo only with the `profile` scope: the new access token still has it.
    assert.match(body, /Hello Alice Example/);

    const home = await (await browser.get(`${base}/`, { headers: html })).text();
    assert.match(home, /data-testid="scopes">openid profile email</);
    assert.equal((await browser.get(`${base}/email`, { headers: html })).status, 200);
  } finally {
    await server.close();
    await example.close();
    await op.close();
  }
});
