/**
 * examples/custom-login-handler against a real oidc-provider: the first login creates the user and
 * lands on the welcome page, the next one updates the user and lands on `returnTo`, and a blocked
 * user is refused by the handler (403), the login removed from the session again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCustomLoginApp } from '../../examples/custom-login-handler/app.js';
import { Browser } from '../support/http-client.js';
import { redisUrl } from '../support/redis.js';
import { listen, startProvider } from './oidc-provider.js';

test('examples/custom-login-handler: create on first login, update on the next, refuse a blocked user', async () => {
  const server = await listen();
  const base = server.origin;
  const op = await startProvider({
    clients: [{ client_id: 'users-app', client_secret: 'users-app-secret', redirect_uris: [`${base}/openid/sso/auth`] }],
    accounts: { alice: { name: 'Alice Example' }, mallory: { name: 'Mallory' } },
  });
  const example = createCustomLoginApp({
    provider: { configuration: op.issuer, clientId: 'users-app', clientSecret: 'users-app-secret', allowInsecureRequests: true },
    baseUrl: base,
    redisUrl: redisUrl(),
  });
  server.setHandler(example.app.callback());
  const { users } = example;
  const html = { accept: 'text/html' };
  const loginAs = (browser: Browser, sub: string, returnTo: string) => {
    op.signInAs(sub);
    return browser.follow(`${base}/openid/sso/login?returnTo=${encodeURIComponent(returnTo)}`, { navigation: true });
  };
  try {
    // First login: the user is created, and the browser lands on the welcome page.
    assert.equal(users.get('sso', 'alice'), undefined);
    const first = await loginAs(new Browser(), 'alice', '/profile');
    assert.equal(first.urls.at(-1), `${base}/welcome`);
    assert.equal(first.response.status, 200);
    assert.match(await first.response.text(), /Welcome, Alice Example!/);
    const created = { ...users.get('sso', 'alice')! };
    assert.equal(created.logins, 1);
    assert.equal(created.name, 'Alice Example');

    // A later login (another browser): the same user, updated, and the browser goes to returnTo.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const browser = new Browser();
    const second = await loginAs(browser, 'alice', '/profile');
    assert.equal(second.urls.at(-1), `${base}/profile`);
    assert.equal(second.response.status, 200);
    assert.match(await second.response.text(), /data-testid="logins">2</);
    const updated = users.get('sso', 'alice')!;
    assert.equal(updated.logins, 2);
    assert.ok(updated.lastLoginAt > created.lastLoginAt, 'last login updated');
    assert.equal(updated.firstLoginAt.getTime(), created.firstLoginAt.getTime());

    // An admin blocks mallory: the session she has is refused at once, a new login by the handler.
    const mallory = new Browser();
    assert.equal((await loginAs(mallory, 'mallory', '/profile')).urls.at(-1), `${base}/welcome`);
    users.block('sso', 'mallory');
    const shutOut = await mallory.get(`${base}/profile`, { headers: { accept: 'application/json' } });
    assert.equal(shutOut.status, 403);
    assert.equal(((await shutOut.json()) as { error: string }).error, 'forbidden');
    const refused = await loginAs(mallory, 'mallory', '/profile');
    assert.ok(refused.urls.at(-1)!.startsWith(`${base}/openid/sso/auth?`), refused.urls.at(-1));
    assert.equal(refused.response.status, 403);
    assert.match(await refused.response.text(), /This account is blocked/);
    const after = await mallory.get(`${base}/profile`, { headers: { accept: 'application/json' } });
    assert.equal(after.status, 401, 'the refused login was removed from the session');
    assert.equal(((await after.json()) as { error: string }).error, 'login_required');
    assert.equal(users.get('sso', 'mallory')!.logins, 1, 'a refused login is not counted');
    // alice is not affected.
    assert.equal((await browser.get(`${base}/profile`, { headers: html })).status, 200);
  } finally {
    await server.close();
    await example.close();
    await op.close();
  }
});
