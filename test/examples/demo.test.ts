/**
 * The demo (examples/demo), end to end: with the non-interactive dev providers and the test
 * Browser, then in headless Chromium against the interactive providers' real login pages.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { startDemo, type Demo } from '../../examples/demo/start.js';
import { launchChromium } from '../support/chromium.js';
import { Browser } from '../support/http-client.js';

const HTML = { accept: 'text/html' };

function decodeHtml(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
  return text.replace(/&(#39|[a-z]+);/g, (entity, name: string) => named[name] ?? entity);
}

/** The text inside the element carrying `data-testid="<id>"`, or `undefined`. */
function testId(html: string, id: string): string | undefined {
  const match = new RegExp(`<(\\w+)[^>]*\\bdata-testid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return match ? decodeHtml(match[2]!) : undefined;
}

/** The `href` of the element carrying `data-testid="<id>"`. */
function testIdHref(html: string, id: string): string | undefined {
  const tag = new RegExp(`<a[^>]*\\bdata-testid="${id}"[^>]*>`).exec(html)?.[0];
  const href = tag && /\bhref="([^"]*)"/.exec(tag)?.[1];
  return href === undefined ? undefined : decodeHtml(href);
}

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

  it('logs out of one provider and keeps the other', async () => {
    const { response, urls } = await browser.follow(`${demo.url}/logout/alpha`, { form: {}, headers: HTML });
    assert.equal(response.status, 200);
    assert.equal(urls.at(-1), `${demo.url}/`);
    const page = await response.text();
    assert.equal(testId(page, 'claims-alpha'), undefined);
    assert.ok(testIdHref(page, 'login-alpha'));
    assert.equal(JSON.parse(testId(page, 'claims-beta')!).sub, 'alice');
  });

  it('refuses a cross-origin logout form', async () => {
    const res = await browser.post(`${demo.url}/logout/beta`, {}, { headers: { origin: 'http://evil.example' } });
    assert.equal(res.status, 403);
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

  it('logs in with alpha and beta through the provider pages, then asks alpha for email too', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const home = `${demo.url}/`;
    const onProvider = (name: string) => page.url().startsWith(`${demo.providers[name]!.issuer}/interaction/`);

    /** Clicks "Log in with <label>", signs in as `user` and consents (selectors: dev-provider.ts). */
    async function logIn(name: string, label: string, user: string) {
      await page.getByRole('link', { name: `Log in with ${label}` }).click();
      await page.getByRole('button', { name: 'Sign-in' }).waitFor();
      assert.ok(onProvider(name), page.url());
      assert.equal(await page.locator('h1').textContent(), 'Sign-in');
      await page.fill('input[name="login"]', user);
      await page.fill('input[name="password"]', 'any password');
      await page.click('button[type="submit"]');
      await consent(name);
    }
    async function consent(name: string) {
      await page.getByRole('button', { name: 'Continue' }).waitFor();
      assert.ok(onProvider(name), page.url());
      assert.equal(await page.locator('h1').textContent(), 'Authorize');
      await page.click('button[type="submit"]');
      await page.waitForURL(home);
    }
    const claims = async (name: string) => JSON.parse((await page.getByTestId(`claims-${name}`).textContent())!);

    await page.goto(home);
    await logIn('alpha', 'Alpha', 'carol');
    assert.match((await page.getByTestId('claims-alpha').textContent())!, /"sub"/);
    assert.equal((await claims('alpha')).sub, 'carol');
    assert.equal(await page.getByTestId('scopes-alpha').textContent(), 'openid profile');
    assert.equal(await page.getByTestId('login-beta').textContent(), 'Log in with Beta');

    await logIn('beta', 'Beta', 'dave');
    assert.equal((await claims('beta')).sub, 'dave');
    assert.equal((await claims('alpha')).sub, 'carol');

    // Progressive consent. Alpha still knows carol (beta's cookies, on the same host, did not
    // overwrite alpha's), so only its consent page comes.
    await page.getByRole('region', { name: 'Alpha' }).getByRole('button', { name: 'Ask for email too' }).click();
    await consent('alpha');
    const scopes = (await page.getByTestId('scopes-alpha').textContent())!.split(' ');
    assert.ok(scopes.includes('email'), `scopes: ${scopes.join(' ')}`);
    assert.equal(await page.getByTestId('scopes-beta').textContent(), 'openid profile');

    await mkdir('.test-tmp', { recursive: true });
    await page.screenshot({ path: '.test-tmp/demo.png', fullPage: true });
    await context.close();
  });
});
