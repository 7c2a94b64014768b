/**
 * The demo (examples/demo), end to end: with the non-interactive dev providers and the test
 * Browser, then in headless Chromium against the interactive providers' real login pages.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import type { Page } from 'playwright-core';

import { startDemo, type Demo } from '../../examples/demo/start.js';
import { launchChromium } from '../support/chromium.js';
import { Browser } from '../support/http-client.js';
import { decodeHtml, testId, testIdHref } from './html.js';

const HTML = { accept: 'text/html' };

describe('demo, with the test Browser (non-interactive providers)', () => {
  let demo: Demo;
  const browser = new Browser();

  before(async () => {
    demo = await startDemo({ port: 0, interactive: false });
  });
  after(() => demo?.close());

  async function home(): Promise<string> {
    const res = await browser.get(`${demo.url}/`, { headers: HTML });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return res.text();
  }

  /** Follows a page's "Log in with ..." link through the provider and back; returns the landing page. */
  async function logInWith(name: string): Promise<string> {
    const href = testIdHref(await home(), `login-${name}`);
    assert.equal(href, `/openid/${name}/login?returnTo=%2F`);
    const { response, urls } = await browser.follow(new URL(href!, demo.url), { headers: HTML });
    assert.equal(response.status, 200, `ended on ${urls.at(-1)}`);
    assert.equal(urls.at(-1), `${demo.url}/`);
    return response.text();
  }

  it('shows a login link per provider and no claims before any login', async () => {
    const page = await home();
    assert.match(page, /Log in with Alpha/);
    assert.match(page, /Log in with Beta/);
    assert.equal(testId(page, 'claims-alpha'), undefined);
    assert.equal(testId(page, 'claims-beta'), undefined);
  });

  it('logs in with both providers in one session', async () => {
    let page = await logInWith('alpha');
    assert.equal(JSON.parse(testId(page, 'claims-alpha')!).sub, 'alice');
    assert.equal(testId(page, 'scopes-alpha'), 'openid profile');
    assert.ok(testIdHref(page, 'login-beta'), 'beta is still logged out');

    page = await logInWith('beta');
    assert.equal(JSON.parse(testId(page, 'claims-alpha')!).sub, 'alice');
    const beta = JSON.parse(testId(page, 'claims-beta')!);
    assert.equal(beta.sub, 'alice');
    assert.equal(beta.iss, demo.providers.beta!.issuer);
  });

  it('asks for email too (progressive consent) and shows it among the scopes', async () => {
    const { response, urls } = await browser.follow(`${demo.url}/more-scopes/alpha`, { form: {}, headers: HTML });
    assert.equal(response.status, 200, `ended on ${urls.at(-1)}`);
    assert.equal(urls.at(-1), `${demo.url}/`);
    assert.ok(urls.some((u) => u.startsWith(demo.providers.alpha!.issuer)), 'went through the provider');
    const page = await response.text();
    assert.deepEqual(testId(page, 'scopes-alpha')!.split(' ').sort(), ['email', 'openid', 'profile']);
    assert.equal(testId(page, 'scopes-beta'), 'openid profile');
    assert.doesNotMatch(page, /action="\/more-scopes\/alpha"/, 'no second ask once granted');
  });

  it('shows the userinfo answer behind /userinfo/alpha', async () => {
    const res = await browser.get(`${demo.url}/userinfo/alpha`, { headers: HTML });
    assert.equal(res.status, 200);
    const info = JSON.parse(testId(await res.text(), 'userinfo-alpha')!);
    assert.equal(info.sub, 'alice');
    assert.equal(info.name, 'Alice Liddell');
    assert.equal(info.email, 'alice@example.test', 'email now granted');
  });

  it('shows /private while logged in with alpha', async () => {
    const res = await browser.get(`${demo.url}/private`, { headers: HTML });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Hello, <strong>alice<\/strong>/);
  });

  it('logs out of one provider, here and at the provider (its confirmation page), and keeps the other', async () => {
    const action = /<form method="post" action="([^"]*)"><button type="submit">Log out here and at Alpha</.exec(await home())?.[1];
    assert.equal(action, '/openid/alpha/logout');
    // A browser's form POST sends its Origin: the app logs out at once and sends it to the provider.
    const toProvider = await browser.follow(`${demo.url}${action}`, { form: {}, headers: { ...HTML, origin: demo.url } });
    const confirmUrl = toProvider.urls.at(-1)!;
    assert.equal(toProvider.response.status, 200);
    assert.ok(confirmUrl.startsWith(`${demo.providers.alpha!.issuer}/session/end?`), confirmUrl);
    const form = /<form id="op.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"/.exec(
      await toProvider.response.text(),
    );
    assert.ok(form, 'the provider asks to confirm');

    const { response, urls } = await browser.follow(new URL(decodeHtml(form[1]!), confirmUrl), {
      form: { xsrf: decodeHtml(form[2]!), logout: 'yes' },
      headers: HTML,
    });
    assert.equal(response.status, 200);
    assert.ok(urls.at(-2)!.startsWith(`${demo.url}/openid/alpha/logged-out?state=`), urls.join(' → '));
    assert.equal(urls.at(-1), `${demo.url}/`);
    const page = await response.text();
    assert.equal(testId(page, 'claims-alpha'), undefined);
    assert.ok(testIdHref(page, 'login-alpha'));
    assert.equal(JSON.parse(testId(page, 'claims-beta')!).sub, 'alice');
  });

  it('only asks to confirm a cross-origin logout form', async () => {
    const res = await browser.post(`${demo.url}/openid/beta/logout`, {}, { headers: { origin: 'http://evil.example' } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Do you want to log out\?/);
    assert.ok(testId(await home(), 'claims-beta'), 'beta is still logged in');
  });

  it('guards /private: a redirect to login for browsers, 401 JSON for API clients', async () => {
    const page = await browser.get(`${demo.url}/private`, { headers: HTML });
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), '/openid/alpha/login?returnTo=%2Fprivate');

    const api = await browser.get(`${demo.url}/private`, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.match(api.headers.get('content-type') ?? '', /application\/json/);
    assert.equal((await api.json()).error, 'login_required');

    const userinfo = await browser.get(`${demo.url}/userinfo/alpha`);
    assert.equal(userinfo.status, 401);
  });

  it('escapes what it prints', async () => {
    demo.providers.beta!.setAccount('<img src=x onerror=alert(1)>');
    const fresh = new Browser();
    const { response } = await fresh.follow(`${demo.url}/openid/beta/login?returnTo=%2F`, { headers: HTML });
    const page = await response.text();
    assert.doesNotMatch(page, /<img src=x/);
    assert.match(page, /&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.equal(JSON.parse(testId(page, 'claims-beta')!).sub, '<img src=x onerror=alert(1)>');
  });
});

describe('demo, in headless Chromium (interactive providers)', () => {
  let demo: Demo;
  let browser: import('playwright-core').Browser;

  before(async () => {
    browser = await launchChromium();
    demo = await startDemo({ port: 0, interactive: true });
  });
  after(async () => {
    await browser?.close();
    await demo?.close();
  });

  /** A page in a fresh browser profile (no cookies), on the demo's home page. */
  async function openHome(): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${demo.url}/`);
    return page;
  }
  const onProvider = (page: Page, name: string, path: string) => page.url().startsWith(`${demo.providers[name]!.issuer}${path}`);
  const claims = async (page: Page, name: string) => JSON.parse((await page.getByTestId(`claims-${name}`).textContent())!);

  /** Waits for the provider's login form (name and password), a real login and no silent one. */
  async function signInForm(page: Page, name: string) {
    await page.getByRole('button', { name: 'Sign-in' }).waitFor();
    assert.ok(onProvider(page, name, '/interaction/'), page.url());
    assert.equal(await page.locator('h1').textContent(), 'Sign-in');
  }
  /** Clicks "Log in with <label>", signs in as `user` and consents (selectors: src/dev-provider/index.ts). */
  async function logIn(page: Page, name: string, label: string, user: string) {
    await page.getByRole('link', { name: `Log in with ${label}` }).click();
    await signInForm(page, name);
    await page.fill('input[name="login"]', user);
    await page.fill('input[name="password"]', 'any password');
    await page.click('button[type="submit"]');
    await consent(page, name);
  }
  async function consent(page: Page, name: string) {
    await page.getByRole('button', { name: 'Continue' }).waitFor();
    assert.ok(onProvider(page, name, '/interaction/'), page.url());
    assert.equal(await page.locator('h1').textContent(), 'Authorize');
    await page.click('button[type="submit"]');
    await page.waitForURL(`${demo.url}/`);
  }

  it('logs in with alpha and beta through the provider pages, then asks alpha for email too', async () => {
    const page = await openHome();
    await logIn(page, 'alpha', 'Alpha', 'carol');
    assert.match((await page.getByTestId('claims-alpha').textContent())!, /"sub"/);
    assert.equal((await claims(page, 'alpha')).sub, 'carol');
    assert.equal(await page.getByTestId('scopes-alpha').textContent(), 'openid profile');
    assert.equal(await page.getByTestId('login-beta').textContent(), 'Log in with Beta');

    await logIn(page, 'beta', 'Beta', 'dave');
    assert.equal((await claims(page, 'beta')).sub, 'dave');
    assert.equal((await claims(page, 'alpha')).sub, 'carol');

    // Progressive consent. Alpha still knows carol (beta's cookies, on the same host, did not
    // overwrite alpha's), so only its consent page comes.
    await page.getByRole('region', { name: 'Alpha' }).getByRole('button', { name: 'Ask for email too' }).click();
    await consent(page, 'alpha');
    const scopes = (await page.getByTestId('scopes-alpha').textContent())!.split(' ');
    assert.ok(scopes.includes('email'), `scopes: ${scopes.join(' ')}`);
    assert.equal(await page.getByTestId('scopes-beta').textContent(), 'openid profile');

    await mkdir('.test-tmp', { recursive: true });
    await page.screenshot({ path: '.test-tmp/demo.png', fullPage: true });
    await page.context().close();
  });

  it('logs out at the provider: its confirmation page, back to the app, and the next login asks for a password', async () => {
    const page = await openHome();
    const navigations: string[] = [];
    page.on('request', (request) => {
      if (request.isNavigationRequest()) navigations.push(request.url());
    });
    await logIn(page, 'alpha', 'Alpha', 'erin');
    await logIn(page, 'beta', 'Beta', 'frank');

    await page.goto(`${demo.url}/private`);
    assert.match((await page.locator('body').textContent())!, /Hello, erin\./);

    // One "Log out" per provider, each saying that it logs out at that provider too.
    await page.goto(`${demo.url}/`);
    assert.equal(await page.getByRole('button', { name: /^Log out/ }).count(), 2);
    await page.getByRole('region', { name: 'Alpha' }).getByRole('button', { name: 'Log out here and at Alpha' }).click();

    // Alpha's own logout page; "Yes" ends its session (see src/dev-provider/index.ts).
    const yes = page.getByRole('button', { name: 'Yes, sign me out' });
    await yes.waitFor();
    assert.ok(onProvider(page, 'alpha', '/session/end?'), page.url());
    await yes.click();
    await page.waitForURL(`${demo.url}/`);
    // Back through the app's logged-out route, which checked the state before going on to `/`.
    assert.ok(
      navigations.some((url) => url.startsWith(`${demo.url}/openid/alpha/logged-out?state=`)),
      navigations.join('\n'),
    );
    assert.equal(await page.getByTestId('login-alpha').textContent(), 'Log in with Alpha');
    assert.equal((await claims(page, 'beta')).sub, 'frank', 'still logged in with beta');

    // The guarded page again: alpha asks for a name and password, it does not log erin in silently.
    await page.goto(`${demo.url}/private`);
    await signInForm(page, 'alpha');
    await page.context().close();
  });
});
