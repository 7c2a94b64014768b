/**
 * Self-test of the cookie-jar client: cookies set, sent back, scoped by origin and path, expired,
 * across redirects between two tiny Koa apps; then a whole code-flow login through the dev provider.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import Koa from 'koa';
import * as oidc from 'openid-client';

import { startDevProvider, type DevProvider } from '../../src/dev-provider/index.js';
import { Browser } from './http-client.js';

async function text(stream: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

async function serve(app: Koa): Promise<{ url: string; server: Server }> {
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('Browser', () => {
  let a: { url: string; server: Server };
  let b: { url: string; server: Server };

  before(async () => {
    const appA = new Koa();
    appA.use(async (ctx) => {
      switch (ctx.path) {
        case '/set':
          ctx.cookies.set('plain', '1', { signed: false, httpOnly: true, sameSite: 'lax' });
          ctx.cookies.set('scoped', '2', { signed: false, path: '/sub' });
          ctx.cookies.set('short', '3', { signed: false, maxAge: 60_000 });
          ctx.redirect(`${ctx.query.next}`);
          return;
        case '/form-post':
          ctx.type = 'html';
          ctx.body = `<html><script>document.forms[0].submit()</script><body>
            <form method="post" action="/echo?x=1&amp;y=2"><input type="hidden" name="code" value="a&amp;b&quot;"/></form>`;
          return;
        case '/echo':
          ctx.body = `${ctx.method} ${ctx.url} ${await text(ctx.req)}`;
          return;
        case '/expire':
          ctx.cookies.set('short', '', { signed: false, maxAge: 0 });
          ctx.cookies.set('plain', '', { signed: false, expires: new Date(0) });
          ctx.body = 'ok';
          return;
        default:
          ctx.body = ctx.get('cookie');
      }
    });
    a = await serve(appA);

    const appB = new Koa();
    appB.use((ctx) => {
      if (ctx.path === '/start') {
        ctx.cookies.set('b', 'x', { signed: false });
        ctx.status = 303;
        ctx.redirect(`${a.url}/set?next=${encodeURIComponent(`${b.url}/back`)}`);
      } else if (ctx.path === '/back') {
        ctx.redirect(`${a.url}/sub/read`);
      } else {
        ctx.body = ctx.get('cookie');
      }
    });
    b = await serve(appB);
  });

  after(async () => {
    await stop(a.server);
    await stop(b.server);
  });

  it('follows redirects across origins, storing and sending cookies per origin and path', async () => {
    const browser = new Browser();
    const { response, urls } = await browser.follow(`${b.url}/start`);
    assert.equal(response.status, 200);
    assert.deepEqual(urls, [
      `${b.url}/start`,
      `${a.url}/set?next=${encodeURIComponent(`${b.url}/back`)}`,
      `${b.url}/back`,
      `${a.url}/sub/read`,
    ]);
    // Longest path first; b's cookie stays with b.
    assert.equal(await response.text(), 'scoped=2; plain=1; short=3');
    assert.equal(await (await browser.get(`${a.url}/other`)).text(), 'plain=1; short=3');
    assert.equal(await (await browser.get(`${b.url}/read`)).text(), 'b=x');
    assert.deepEqual(browser.cookies(b.url), { b: 'x' });
    const plain = browser.cookieJar(a.url).find((c) => c.name === 'plain');
    assert.equal(plain?.httpOnly, true);
    assert.equal(plain?.sameSite, 'lax');
  });

  it('drops cookies expired by Max-Age=0 or a past Expires', async () => {
    const browser = new Browser();
    await browser.follow(`${a.url}/set?next=/read`);
    assert.deepEqual(Object.keys(browser.cookies(a.url)).sort(), ['plain', 'scoped', 'short']);
    await browser.post(`${a.url}/expire`, {});
    assert.deepEqual(browser.cookies(a.url), { scoped: '2' });
  });

  it("shares cookies across ports with cookieScope 'host'", async () => {
    const browser = new Browser({ cookieScope: 'host' });
    await browser.follow(`${b.url}/start`);
    assert.match(await (await browser.get(`${b.url}/read`)).text(), /plain=1/);
  });

  it('submits a page that posts its form on load (form_post), unless told not to or to stop', async () => {
    const browser = new Browser();
    const { response, urls } = await browser.follow(`${a.url}/form-post`);
    assert.equal(await response.text(), `POST /echo?x=1&y=2 ${new URLSearchParams({ code: 'a&b"' })}`);
    assert.equal(urls.length, 2);
    const stopped = await browser.follow(`${a.url}/form-post`, { stopAt: `${a.url}/echo` });
    assert.equal(stopped.stoppedForm?.get('code'), 'a&b"');
    assert.match(await stopped.response.text(), /<form/);
    const manual = await browser.follow(`${a.url}/form-post`, { autoSubmit: false });
    assert.deepEqual(manual.urls, [`${a.url}/form-post`]);
  });

  it('gives up after maxHops', async () => {
    await assert.rejects(new Browser().follow(`${b.url}/start`, { maxHops: 1 }), /more than 1 redirects/);
  });
});

describe('Browser through a code-flow login with the dev provider', () => {
  let rp: { url: string; server: Server };
  let op: DevProvider;

  before(async () => {
    // A throwaway relying party over openid-client: /login → provider → /cb → JSON of the ID token.
    const app = new Koa();
    let config: oidc.Configuration | undefined;
    const pending = new Map<string, { verifier: string; nonce: string }>();
    app.use(async (ctx) => {
      config ??= await oidc.discovery(new URL(op.issuer), 'rp', 'rp-secret', undefined, {
        execute: [oidc.allowInsecureRequests],
      });
      if (ctx.path === '/login') {
        const state = oidc.randomState();
        const verifier = oidc.randomPKCECodeVerifier();
        const nonce = oidc.randomNonce();
        pending.set(state, { verifier, nonce });
        ctx.cookies.set('rp_state', state, { signed: false });
        ctx.redirect(
          oidc.buildAuthorizationUrl(config, {
            redirect_uri: `${rp.url}/cb`,
            scope: 'openid email',
            state,
            nonce,
            code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
            code_challenge_method: 'S256',
          }).href,
        );
      } else if (ctx.path === '/cb') {
        const state = ctx.cookies.get('rp_state') ?? '';
        const { verifier, nonce } = pending.get(state)!;
        const tokens = await oidc.authorizationCodeGrant(config, new URL(ctx.href), {
          pkceCodeVerifier: verifier,
          expectedState: state,
          expectedNonce: nonce,
        });
        ctx.body = tokens.claims();
      }
    });
    rp = await serve(app);
    op = await startDevProvider({
      clients: [{ client_id: 'rp', client_secret: 'rp-secret', redirect_uris: [`${rp.url}/cb`] }],
    });
  });

  after(async () => {
    await stop(rp.server);
    await op.close();
  });

  it('logs in without any page, then again on the provider session', async () => {
    const browser = new Browser();
    const first = await browser.follow(`${rp.url}/login`);
    assert.equal(first.response.status, 200);
    assert.equal(((await first.response.json()) as { sub: string }).sub, 'alice');
    assert.ok(first.urls.some((u) => u.startsWith(`${op.url}/interaction/`)));

    const second = await browser.follow(`${rp.url}/login`);
    assert.equal(((await second.response.json()) as { sub: string }).sub, 'alice');
    assert.ok(!second.urls.some((u) => u.includes('/interaction/')), 'no new interaction');
  });
});
