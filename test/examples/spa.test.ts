/**
 * The single-page app example (examples/spa), end to end: its API with tokens obtained
 * programmatically from the non-interactive dev provider, then the page itself in headless
 * Chromium against the interactive provider's real login and consent pages.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { startSpaExample, type SpaExample } from '../../examples/spa/start.js';
import { launchChromium } from '../support/chromium.js';
import { Browser } from '../support/http-client.js';

interface TokenResponse {
  access_token: string;
  id_token: string;
  token_type: string;
  scope?: string;
  expires_in: number;
}

const decodePart = (jwt: string, i: number) => JSON.parse(Buffer.from(jwt.split('.')[i]!, 'base64url').toString());

/** The token with the first character of its signature changed (see tamper() in public/app.js). */
function tampered(jwt: string): string {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  return `${header}.${payload}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
}

describe('spa example: the API, with tokens obtained programmatically (non-interactive provider)', () => {
  let spa: SpaExample;
  let tokenEndpoint: string;
  const browser = new Browser();

  before(async () => {
    spa = await startSpaExample({ port: 0, interactive: false });
    const discovery = await (await fetch(`${spa.provider.issuer}/.well-known/openid-configuration`)).json();
    tokenEndpoint = discovery.token_endpoint;
  });
  after(() => spa?.close());

  /** What the page does, without a page: code + PKCE as the public client, `resource` = the API. */
  async function tokens(scope: string, extra: Record<string, string> = { resource: spa.resource }): Promise<TokenResponse> {
    const verifier = 'v'.repeat(20) + Math.random().toString(36).slice(2).padEnd(30, 'x');
    const authorize = new URL(`${spa.provider.issuer}/auth`);
    authorize.search = new URLSearchParams({
      client_id: spa.clientId,
      response_type: 'code',
      redirect_uri: spa.redirectUri,
      scope,
      state: 'st',
      nonce: 'n',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...extra,
    }).toString();
    const { stoppedAt, urls } = await browser.follow(authorize, { stopAt: spa.redirectUri });
    const code = stoppedAt?.searchParams.get('code');
    assert.ok(code, `no code; ended on ${urls.at(-1)}`);
    const res = await fetch(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: spa.redirectUri, client_id: spa.clientId, code_verifier: verifier, ...extra }),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  }

  const api = (path: string, token?: string) =>
    fetch(`${spa.url}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

  it('serves the page under a strict CSP, without inline script, and its config', async () => {
    const page = await fetch(`${spa.url}/`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /(^|; )script-src 'self'(;|$)/);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, new RegExp(`connect-src 'self' ${spa.provider.issuer}(;|$)`));
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    const html = await page.text();
    assert.deepEqual(html.match(/<script\b[^>]*>/g), ['<script type="module" src="/app.js">'], 'one external script, no inline one');
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');

    const js = await fetch(`${spa.url}/app.js`);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${spa.url}/../package.json`)).status, 404);
    assert.equal((await fetch(`${spa.url}/public/app.js`)).status, 404);

    assert.deepEqual(await (await fetch(`${spa.url}/config.json`)).json(), {
      issuer: spa.provider.issuer,
      clientId: 'spa',
      resource: `${spa.url}/api`,
      scopes: { read: 'api:read', admin: 'api:admin' },
    });
  });

  it('lets the page origin, and only it, call the token endpoint (CORS)', async () => {
    const cors = (origin: string) =>
      fetch(tokenEndpoint, {
        method: 'POST',
        headers: { origin },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'bogus', redirect_uri: spa.redirectUri, client_id: spa.clientId, code_verifier: 'x'.repeat(43) }),
      });
    const ours = await cors(spa.url);
    assert.equal(ours.headers.get('access-control-allow-origin'), spa.url);
    assert.equal((await ours.json()).error, 'invalid_grant', 'got as far as the code check');
    const theirs = await cors('http://evil.example');
    assert.equal(theirs.headers.get('access-control-allow-origin'), null);
    assert.equal((await theirs.json()).error, 'invalid_request');
  });

  it('issues a JWT access token for the API (aud, scope) and /api/me answers 200 with its sub', async () => {
    const t = await tokens('openid api:read');
    assert.equal(t.scope, 'api:read');
    assert.equal(decodePart(t.access_token, 0).typ, 'at+jwt');
    const claims = decodePart(t.access_token, 1);
    assert.equal(claims.aud, spa.resource);
    assert.equal(claims.scope, 'api:read');
    assert.equal(claims.iss, spa.provider.issuer);

    const res = await api('/api/me', t.access_token);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await res.json(), { sub: 'alice', scopes: ['api:read'] });
  });

  it('answers 401 without a token, for a tampered token, for an ID token and for a userinfo token', async () => {
    const t = await tokens('openid api:read');
    const none = await api('/api/me');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="api"');

    const bad = await api('/api/me', tampered(t.access_token));
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer realm="api", error="invalid_token"/);
    assert.deepEqual(await bad.json(), { error: 'invalid_token', error_description: 'the signature is not valid' });

    const idToken = await api('/api/me', t.id_token);
    assert.equal(idToken.status, 401, 'an ID token is no access token for the API');

    // Without `resource` the token is oidc-provider's opaque one for userinfo: not for this API.
    const opaque = await tokens('openid', {});
    assert.equal((await api('/api/me', opaque.access_token)).status, 401);
  });

  it('answers 403 insufficient_scope on /api/admin without api:admin, 200 with it', async () => {
    const read = await tokens('openid api:read');
    const refused = await api('/api/admin', read.access_token);
    assert.equal(refused.status, 403);
    assert.equal(
      refused.headers.get('www-authenticate'),
      'Bearer realm="api", error="insufficient_scope", error_description="the token lacks a required scope", scope="api:admin"',
    );
    assert.equal((await refused.json()).error, 'insufficient_scope');

    const admin = await tokens('openid api:read api:admin');
    const ok = await api('/api/admin', admin.access_token);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { sub: 'alice', scopes: ['api:read', 'api:admin'], admin: true });
  });

  it('refuses a resource indicator it does not know (invalid_target)', async () => {
    const url = new URL(`${spa.provider.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: spa.clientId,
      response_type: 'code',
      redirect_uri: spa.redirectUri,
      scope: 'openid api:read',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
      resource: 'https://other.example/api',
    }).toString();
    const { stoppedAt } = await browser.follow(url, { stopAt: spa.redirectUri });
    assert.equal(stoppedAt?.searchParams.get('error'), 'invalid_target');
  });
});

describe('spa example, in headless Chromium (interactive provider)', () => {
  let spa: SpaExample;
  let browser: import('playwright-core').Browser;

  before(async () => {
    browser = await launchChromium();
    spa = await startSpaExample({ port: 0, interactive: true });
  });
  after(async () => {
    await browser?.close();
    await spa?.close();
  });

  it('logs in (code + PKCE, then implicit), calls the API, and sees 200, 401 after tampering, 403 without api:admin', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // On the example's own page (the provider's pages load a web font from the internet), a CSP
      // violation or a script error would show here. The API's 401/403 (and the favicon's 404)
      // are logged as failed loads: expected.
      const ours = msg.location().url.startsWith(spa.url);
      const expected = /^Failed to load resource: the server responded with a status of 40[134]\b/.test(msg.text());
      if (msg.type() === 'error' && ours && !expected) problems.push(`console: ${msg.text()}`);
    });
    const home = `${spa.url}/`;
    const onProvider = () => page.url().startsWith(`${spa.provider.issuer}/interaction/`);
    const text = async (id: string) => (await page.getByTestId(id).textContent())?.trim();

    /** Back on the page, its script done: no error shown, the address bar cleaned. */
    async function landed() {
      await page.waitForURL(home);
      await page.locator('body[data-ready="true"]').waitFor();
      assert.equal(await page.getByTestId('error').isHidden(), true, `error shown: ${await text('error')}`);
    }
    /** Signs in at the provider's login page when it comes, then consents (selectors: src/dev-provider/index.ts). */
    async function throughProvider(user: string | undefined) {
      if (user !== undefined) {
        await page.getByRole('button', { name: 'Sign-in' }).waitFor();
        assert.ok(onProvider(), page.url());
        await page.fill('input[name="login"]', user);
        await page.fill('input[name="password"]', 'any password');
        await page.click('button[type="submit"]');
      }
      await page.getByRole('button', { name: 'Continue' }).waitFor();
      assert.ok(onProvider(), page.url());
      assert.equal(await page.locator('h1').textContent(), 'Authorize');
      await page.click('button[type="submit"]');
      await landed();
    }
    async function call(button: string) {
      await page.getByTestId('api-status').evaluate((el) => (el.textContent = '…'));
      await page.getByRole('button', { name: button }).click();
      await page.waitForFunction(() => document.querySelector('[data-testid="api-status"]')?.textContent !== '…');
      return {
        status: Number(await text('api-status')),
        challenge: (await text('api-challenge'))!,
        body: JSON.parse((await text('api-result'))!),
      };
    }

    await page.goto(home);
    await page.locator('body[data-ready="true"]').waitFor();
    assert.equal(await text('status'), 'Not logged in.');
    assert.equal(await page.getByRole('button', { name: 'Call /api/me' }).isDisabled(), true);

    // 1. Code + PKCE, asking for api:read only.
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await throughProvider('carol');
    assert.equal(await text('status'), 'Logged in as carol.');
    assert.equal(await text('sub'), 'carol');
    assert.equal(await text('scopes'), 'api:read');
    assert.equal(await text('flow'), 'authorization code + PKCE');
    assert.equal(await page.evaluate(() => location.search + location.hash), '', 'the code left the address bar');
    assert.equal(await page.evaluate(() => JSON.stringify(localStorage) + sessionStorage.length), '{}0', 'no token stored');

    let answer = await call('Call /api/me');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { sub: 'carol', scopes: ['api:read'] });

    answer = await call('Call /api/admin');
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error, 'insufficient_scope');
    assert.match(answer.challenge, /error="insufficient_scope"/);
    assert.match(answer.challenge, /scope="api:admin"/);

    await page.getByRole('button', { name: 'Tamper with the token' }).click();
    answer = await call('Call /api/me');
    assert.equal(answer.status, 401);
    assert.match(answer.challenge, /^Bearer realm="api", error="invalid_token"/);
    assert.equal(answer.body.error, 'invalid_token');

    // 2. Code + PKCE again, asking for api:admin too: the provider remembers carol, asks consent only.
    await page.getByLabel('also ask for api:admin').check();
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await throughProvider(undefined);
    assert.deepEqual((await text('scopes'))!.split(' ').sort(), ['api:admin', 'api:read']);
    answer = await call('Call /api/admin');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { sub: 'carol', scopes: ['api:read', 'api:admin'], admin: true });

    // 3. The implicit variant: tokens in the fragment, nonce and at_hash checked by the page.
    await page.getByLabel('also ask for api:admin').uncheck();
    await page.getByRole('button', { name: 'Log in (implicit id_token token)' }).click();
    await throughProvider(undefined);
    assert.equal(await text('flow'), 'implicit (id_token token)');
    assert.equal(await text('sub'), 'carol');
    assert.equal(await page.evaluate(() => location.hash), '', 'the tokens left the address bar');
    answer = await call('Call /api/me');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { sub: 'carol', scopes: ['api:read'] });

    await mkdir('.test-tmp', { recursive: true });
    await page.screenshot({ path: '.test-tmp/spa.png', fullPage: true });

    // A reload forgets the tokens (memory only).
    await page.reload();
    await page.locator('body[data-ready="true"]').waitFor();
    assert.equal(await text('status'), 'Not logged in.');

    assert.deepEqual(problems, []);
    await context.close();
  });

  it('drops a login answer it did not ask for (state mismatch), without calling the token endpoint', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const tokenCalls: string[] = [];
    page.on('request', (req) => {
      if (req.url().startsWith(`${spa.provider.issuer}/token`)) tokenCalls.push(req.url());
    });
    await page.goto(`${spa.url}/?code=stolen&state=forged&iss=${encodeURIComponent(spa.provider.issuer)}`);
    await page.locator('body[data-ready="true"]').waitFor();
    assert.match((await page.getByTestId('error').textContent())!, /state mismatch/);
    assert.equal(await page.getByTestId('status').textContent(), 'Not logged in.');
    assert.equal(page.url(), `${spa.url}/`);
    assert.deepEqual(tokenCalls, []);
    await context.close();
  });
});
