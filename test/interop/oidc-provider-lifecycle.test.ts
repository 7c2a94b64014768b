/**
 * A login's whole life against the real `oidc-provider` package (9.x, in-process on 127.0.0.1 via
 * src/dev-provider, non-interactive), with real Redis sessions:
 * - refresh with rotation (`rotateRefreshToken: true`): a due access token is refreshed by the
 *   guard, once even for 10 concurrent requests, and the spent refresh token is refused afterwards;
 * - RP-initiated logout through oidc-provider's own confirmation page, back to `postLogoutReturnTo`,
 *   and oidc-provider's session is gone (the next login asks for a login again);
 * - back-channel logout posted by oidc-provider itself when a user ends one provider session
 *   directly at the provider: that browser's login ends here, another browser's stays.
 * Front-channel logout is not tested: oidc-provider 9 has no front-channel logout feature (none in
 * its `features`, no `frontchannel_logout_supported` in its discovery document).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import Router from '@koa/router';
import { after, before, describe, test } from 'node:test';
import { startDevProvider, type DevProvider } from '../../src/dev-provider/index.js';
import { OpenID, isOpenIDError, redisSession } from '../../src/index.js';
import { Browser } from '../support/http-client.js';
import { newRedis, redisUrl, uniquePrefix } from '../support/redis.js';

const NAME = 'op';
const CLIENT_ID = 'lifecycle-app';
const CLIENT_SECRET = 'lifecycle-secret-value';
const COOKIE = 'koa-session-openid';
const JSON_ACCEPT = { accept: 'application/json' };

/** A logout token oidc-provider posted, and the app's answer. */
interface Delivery {
  url: string;
  status: number;
  logoutToken: Record<string, unknown>;
}

/** A JWT's payload, not verified: only to see what oidc-provider sent. */
function payload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

describe('oidc-provider 9: refresh with rotation, RP-initiated and back-channel logout', { timeout: 30_000 }, () => {
  const redis = newRedis();
  const prefix = uniquePrefix('op-lifecycle');
  let server: Server;
  let sessions: ReturnType<typeof redisSession>;
  let op: DevProvider;
  let openid: OpenID;
  let base: string;
  let discovery: { token_endpoint: string; end_session_endpoint: string; backchannel_logout_supported?: boolean };
  /** grant_type and status of every request to oidc-provider's token endpoint. */
  const tokenRequests: Array<{ grantType: string | undefined; status: number }> = [];
  /** The name of every prompt (login, consent) oidc-provider started an interaction for. */
  const prompts: string[] = [];
  const deliveries: Delivery[] = [];
  const backchannelErrors: string[] = [];
  /** Token requests are slowed down by this long (ms): concurrent refreshes surely overlap. */
  let tokenDelay = 0;

  const refreshGrants = () => tokenRequests.filter((r) => r.grantType === 'refresh_token').length;
  const loginPrompts = () => prompts.filter((p) => p === 'login').length;

  const { info } = console;
  before(async () => {
    // oidc-provider's notice that its default logout page is in use (the page is what is tested here).
    console.info = (...args: unknown[]) => {
      if (!String(args[0]).includes('rpInitiatedLogout.logoutSource')) info.apply(console, args);
    };
    const app = new Koa();
    app.keys = ['lifecycle-test-key'];
    app.silent = true;
    sessions = redisSession(app, { redis: redisUrl(), prefix });
    app.use(sessions);
    // Composed at the first request: the routes added below count.
    let handler: ReturnType<Koa['callback']> | undefined;
    server = createServer((req, res) => (handler ??= app.callback())(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    op = await startDevProvider({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [`${base}/openid/${NAME}/auth`],
          post_logout_redirect_uris: [`${base}/openid/${NAME}/logged-out`],
          grant_types: ['authorization_code', 'refresh_token'],
          backchannel_logout_uri: `${base}/openid/${NAME}/backchannel-logout`,
          backchannel_logout_session_required: true,
        },
      ],
      features: { backchannelLogout: { enabled: true } },
      extraConfig: {
        // Called (awaited) while a token request issues its access token: slows the token endpoint.
        async extraTokenClaims() {
          if (tokenDelay) await sleep(tokenDelay);
          return undefined;
        },
        // Every refresh spends the refresh token and issues a new one.
        rotateRefreshToken: true,
        // oidc-provider's SSRF guard refuses to post logout tokens to 127.0.0.1: sent without its
        // dispatcher. Each logout token sent, and the app's answer, is recorded.
        fetch: async (url: string, { dispatcher: _dispatcher, ...init }: RequestInit & { dispatcher?: unknown }) => {
          const response = await fetch(url, init);
          const token = init.body instanceof URLSearchParams ? init.body.get('logout_token') : null;
          if (token) deliveries.push({ url, status: response.status, logoutToken: payload(token) });
          return response;
        },
      },
    });
    const provider = op.provider;
    // startDevProvider has composed oidc-provider's middleware already (a provider.use() now would
    // never run): its events tell what happened at the token endpoint and in interactions.
    const grantType = (ctx: { oidc?: { params?: Record<string, unknown> } }) => ctx.oidc?.params?.grant_type as string | undefined;
    provider.on('grant.success', (ctx: any) => tokenRequests.push({ grantType: grantType(ctx), status: 200 }));
    provider.on('grant.error', (ctx: any, err: { statusCode?: number }) => tokenRequests.push({ grantType: grantType(ctx), status: err.statusCode ?? 500 }));
    provider.on('interaction.started', (_ctx: unknown, prompt: { name: string }) => prompts.push(prompt.name));
    provider.on('backchannel.error', (_ctx: unknown, err: Error) => backchannelErrors.push(err.message));

    openid = new OpenID(app, {
      name: NAME,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      configuration: `${op.issuer}/.well-known/openid-configuration`,
      allowInsecureRequests: true,
      // oidc-provider issues a refresh token only for offline_access asked with prompt=consent.
      scopes: ['openid', 'profile', 'offline_access'],
      authorizationParams: { prompt: 'consent' },
    });

    const router = new Router();
    router.get('/guarded', openid.required(), async (ctx) => {
      try {
        ctx.body = { accessToken: await openid.accessToken(ctx), sub: ctx.state.user?.sub };
      } catch (err) {
        if (!isOpenIDError(err)) throw err;
        await openid.renderError(ctx, err);
      }
    });
    router.get('/', (ctx) => {
      ctx.body = 'home';
    });
    app.use(router.routes());

    discovery = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as typeof discovery;
  });

  after(async () => {
    console.info = info;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await op?.close();
    await sessions?.close?.();
    redis.disconnect();
  });

  /** A whole login through oidc-provider; returns the session cookie's value. */
  async function login(browser: Browser): Promise<string> {
    const { response, urls } = await browser.follow(`${base}/openid/${NAME}/login`);
    assert.equal(response.status, 200, `login ended at ${urls.at(-1)}: ${await response.clone().text()}`);
    assert.equal(await response.text(), 'home');
    const cookie = browser.cookies(base)[COOKIE];
    assert.ok(cookie, 'a session cookie');
    return cookie;
  }

  const key = (cookie: string) => prefix + cookie.slice(1, 23);
  const hot = async (cookie: string) => JSON.parse((await redis.hget(key(cookie), `l:${NAME}`)) ?? 'null') as { e?: number; c: Record<string, unknown> } | null;
  const tokens = async (cookie: string) => JSON.parse((await redis.hget(key(cookie), `t:${NAME}`)) ?? '{}') as { at?: string; rt?: string; it?: string };

  /** Makes the stored access token's expiry `inSeconds` from now (negative: expired). */
  async function expireIn(cookie: string, inSeconds: number): Promise<void> {
    const record = await hot(cookie);
    assert.ok(record, 'a stored login');
    await redis.hset(key(cookie), `l:${NAME}`, JSON.stringify({ ...record, e: Math.floor(Date.now() / 1000) + inSeconds }));
  }

  async function guarded(browser: Browser): Promise<{ status: number; body: Record<string, any> }> {
    const res = await browser.get(`${base}/guarded`, { headers: JSON_ACCEPT });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** A refresh grant sent straight to oidc-provider's token endpoint, as the client. */
  function refreshAtProvider(refreshToken: string): Promise<Response> {
    return fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
  }

  test('a due access token is refreshed by the guard; oidc-provider rotated the refresh token and refuses the old one', async () => {
    const browser = new Browser();
    const cookie = await login(browser);
    const before = await tokens(cookie);
    assert.ok(before.at && before.rt, 'the login holds an access and a refresh token (offline_access + prompt=consent)');

    const notDue = await guarded(browser);
    assert.equal(notDue.status, 200);
    assert.equal(notDue.body.accessToken, before.at, 'a token that is not due is used as it is');

    await expireIn(cookie, -1);
    const grants = refreshGrants();
    const res = await guarded(browser);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(refreshGrants() - grants, 1, 'one refresh grant at oidc-provider');
    assert.equal(tokenRequests.at(-1)!.status, 200, 'and oidc-provider granted it');
    const after = await tokens(cookie);
    assert.notEqual(res.body.accessToken, before.at, 'a new access token');
    assert.equal(res.body.accessToken, after.at, 'the one now stored');
    assert.ok(after.rt && after.rt !== before.rt, 'the rotated refresh token is stored');
    assert.ok((await hot(cookie))!.e! > Date.now() / 1000 + 600, 'with the new expiry');

    const reuse = await refreshAtProvider(before.rt!);
    assert.equal(reuse.status, 400, 'oidc-provider refuses the spent refresh token');
    assert.equal(((await reuse.json()) as { error: string }).error, 'invalid_grant');

    // oidc-provider answers a reuse by revoking the whole grant: the login's next refresh is refused,
    // and the library ends the login.
    await expireIn(cookie, -1);
    const ended = await guarded(browser);
    assert.equal(ended.status, 401);
    assert.equal(ended.body.error, 'login_required');
    assert.equal(await hot(cookie), null, 'the login is gone');
  });

  test('10 concurrent requests with a due token: one refresh grant at oidc-provider, all 200 with the new token', async () => {
    const browser = new Browser();
    const cookie = await login(browser);
    const before = await tokens(cookie);
    await expireIn(cookie, 30); // within refreshSkew (60 s): due, still valid
    const grants = refreshGrants();
    tokenDelay = 300;
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: 10 }, () => guarded(browser)));
    } finally {
      tokenDelay = 0;
    }
    assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200), JSON.stringify(answers.find((a) => a.status !== 200)?.body));
    assert.equal(refreshGrants() - grants, 1, 'exactly one refresh grant reached oidc-provider');
    const after = await tokens(cookie);
    assert.notEqual(after.at, before.at);
    assert.deepEqual(new Set(answers.map((a) => a.body.accessToken)), new Set([after.at]), 'every request used the new token');

    // The rotated refresh token works: the next due refresh succeeds too.
    await expireIn(cookie, -1);
    const again = await guarded(browser);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.notEqual(again.body.accessToken, after.at);
    assert.equal(refreshGrants() - grants, 2);
  });

  test('RP-initiated logout: oidc-provider confirms, returns to logged-out with the state, then home; its session is gone', async () => {
    const browser = new Browser();
    await login(browser);
    assert.equal((await guarded(browser)).status, 200);
    // While oidc-provider's session lives, a new login asks for no login (only the forced consent).
    const promptsBefore = loginPrompts();
    const cookie = await login(browser);
    assert.equal(loginPrompts(), promptsBefore, 'no login prompt while the provider session lives');
    const idToken = (await tokens(cookie)).it;
    assert.ok(idToken);

    const logout = await browser.get(`${base}/openid/${NAME}/logout`, { headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(logout.status, 302);
    const to = new URL(logout.headers.get('location')!);
    assert.equal(`${to.origin}${to.pathname}`, discovery.end_session_endpoint);
    assert.equal(to.searchParams.get('id_token_hint'), idToken);
    assert.equal(to.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${base}/openid/${NAME}/logged-out`);
    const state = to.searchParams.get('state');
    assert.ok(state);

    // oidc-provider's confirmation page: a form with a hidden xsrf, and the "Yes, sign me out" button (logout=yes).
    const page = await browser.get(to);
    assert.equal(page.status, 200, 'oidc-provider accepted the end_session request');
    const html = await page.text();
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"\/><\/form>/.exec(html);
    assert.ok(form, html);
    assert.match(html, /<button[^>]*value="yes" name="logout"/);
    const confirmed = await browser.post(new URL(form[1]!, to), { xsrf: form[2]!, logout: 'yes' });
    assert.equal(confirmed.status, 303);
    const back = new URL(confirmed.headers.get('location')!);
    assert.equal(`${back.origin}${back.pathname}`, `${base}/openid/${NAME}/logged-out`);
    assert.equal(back.searchParams.get('state'), state);

    const done = await browser.get(back);
    assert.equal(done.status, 302);
    assert.equal(done.headers.get('location'), '/', 'on to postLogoutReturnTo');

    const api = await guarded(browser);
    assert.equal(api.status, 401);
    assert.equal(api.body.error, 'login_required');
    const page2 = await browser.get(`${base}/guarded`, { headers: { accept: 'text/html' } });
    assert.equal(page2.status, 302);
    assert.equal(page2.headers.get('location'), `/openid/${NAME}/login?returnTo=%2Fguarded`);

    // oidc-provider's own session ended: a new login goes through its login prompt again.
    await login(browser);
    assert.equal(loginPrompts(), promptsBefore + 1, 'oidc-provider asked for a login');
    assert.equal((await guarded(browser)).status, 200);
  });

  test('back-channel logout posted by oidc-provider: the browser whose provider session ended is logged out, another stays', async () => {
    const a = new Browser();
    const b = new Browser();
    const cookieA = await login(a);
    const cookieB = await login(b);
    const sidA = (await hot(cookieA))!.c.sid;
    const sidB = (await hot(cookieB))!.c.sid;
    assert.ok(typeof sidA === 'string' && typeof sidB === 'string' && sidA !== sidB, 'two provider sessions, each with its sid');
    assert.equal((await guarded(a)).status, 200);
    assert.equal((await guarded(b)).status, 200);
    assert.equal(discovery.backchannel_logout_supported, true);
    const delivered = deliveries.length;

    // The user logs out at the provider itself (as from another app): no id_token_hint, no client_id.
    const page = await a.get(discovery.end_session_endpoint);
    assert.equal(page.status, 200);
    const form = /<form id="op\.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"\/>/.exec(await page.text());
    assert.ok(form);
    const confirmed = await a.post(new URL(form[1]!, discovery.end_session_endpoint), { xsrf: form[2]!, logout: 'yes' });
    assert.equal(confirmed.status, 303);

    await until('browser A logged out by the back-channel', async () => (await guarded(a)).status === 401);
    assert.deepEqual(backchannelErrors, [], 'oidc-provider got 200 for its logout token');
    const mine = deliveries.slice(delivered);
    assert.equal(mine.length, 1, 'oidc-provider posted one logout token');
    assert.equal(mine[0]!.url, `${base}/openid/${NAME}/backchannel-logout`);
    assert.equal(mine[0]!.status, 200, 'and the library accepted it');
    assert.equal(mine[0]!.logoutToken.sid, sidA);
    assert.equal(await hot(cookieA), null, "A's login is gone from its session");
    const stillB = await guarded(b);
    assert.equal(stillB.status, 200, 'B is still logged in');
    assert.equal(stillB.body.sub, 'alice');
  });
});
