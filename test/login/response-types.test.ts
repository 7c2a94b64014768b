import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { startDevProvider } from '../../src/dev-provider/index.js';
import { OpenID, redisSession } from '../../src/index.js';
import { resolveOptions } from '../../src/options.js';
import { tokenHash } from '../../src/jwt/token-hash.js';
import { launchChromium } from '../support/chromium.js';
import { startHostileApp, type HostileApp } from '../support/hostile-app.js';
import type { AuthorizationRequest } from '../support/hostile-provider.js';
import { autoSubmittedForm, Browser } from '../support/http-client.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';
import { login, startFixture } from '../support/fixture.js';

const now = () => Math.floor(Date.now() / 1000);

function showUser(app: Koa, openid: OpenID) {
  app.use(openid.optional()).use(async (ctx) => {
    const s = await openid.session(ctx);
    ctx.body = { sub: s?.claims.sub ?? null, accessToken: Boolean(s?.tokens.accessToken), path: ctx.path };
  });
}

/** Front-channel tokens for the hostile provider's redirect: what a provider sends with implicit/hybrid. */
async function frontChannel(fx: HostileApp, redirect: URLSearchParams, req: AuthorizationRequest, tweak: { claims?: Record<string, unknown>; params?: Record<string, string | null> } = {}) {
  const accessToken = randomBytes(24).toString('base64url');
  const alg = fx.op.keys.current.alg;
  const claims = {
    iss: fx.op.issuer, aud: 'hostile-client', sub: 'alice', nonce: req.nonce, iat: now(), exp: now() + 300,
    at_hash: tokenHash(accessToken, alg), c_hash: tokenHash(redirect.get('code')!, alg), ...tweak.claims,
  };
  redirect.set('id_token', await fx.op.sign(claims));
  redirect.set('access_token', accessToken);
  redirect.set('token_type', 'Bearer');
  redirect.set('expires_in', '300');
  for (const [k, v] of Object.entries(tweak.params ?? {})) {
    if (v === null) redirect.delete(k);
    else redirect.set(k, v);
  }
}

async function attempt(fx: HostileApp, tweak: Parameters<typeof frontChannel>[3] = {}) {
  fx.op.onAuthorize((redirect, req) => frontChannel(fx, redirect, req, tweak));
  const res = await fx.login(undefined, '/done');
  return { status: res.status, body: JSON.parse(res.body) };
}

test('responseType and responseMode are checked at setup', () => {
  const base = { name: 'x', clientId: 'c', configuration: 'https://op.example/.well-known/openid-configuration' };
  assert.equal(resolveOptions(base).responseMode, 'query');
  assert.equal(resolveOptions({ ...base, responseType: 'id_token token' }).responseMode, 'form_post');
  assert.throws(() => resolveOptions({ ...base, responseType: 'code id_token', responseMode: 'query' }), /must be form_post/);
});

test('at_hash and c_hash follow the ID token alg (Core §3.2.2.9)', () => {
  // Core §A.3/A.4 example: the access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" with RS256.
  assert.equal(tokenHash('jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y', 'RS256'), '77QmUPtjPfzWtF2AnpK9RQ');
  assert.equal(tokenHash('x', 'HS256'), undefined);
  assert.equal(tokenHash('x', 'EdDSA')!.length, 43);
  // Not ASCII: no hash at all (Node's 'ascii' encoding kept the low byte only, so "Ł" hashed like "A").
  assert.equal(tokenHash('Ł', 'RS256'), undefined);
  assert.notEqual(tokenHash('A', 'RS256'), undefined);
});

describe('implicit id_token token (hostile provider, form_post)', () => {
  test('a valid response logs in; the access token is bound by at_hash', async () => {
    const fx = await startHostileApp({ responseType: 'id_token token' }, showUser);
    try {
      const ok = await attempt(fx);
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, { sub: 'alice', accessToken: true, path: '/done' });
      const request = fx.op.authorizations.at(-1)!.params;
      assert.equal(request.get('response_type'), 'id_token token');
      assert.equal(request.get('response_mode'), 'form_post');
      assert.equal(request.get('code_challenge'), null, 'no PKCE without a code');
      assert.equal(fx.op.tokenRequests.length, 0, 'no token request');

      const cases: Array<[Parameters<typeof frontChannel>[3], string]> = [
        [{ claims: { at_hash: 'AAAAAAAAAAAAAAAAAAAAAA' } }, 'invalid_id_token'],
        [{ claims: { at_hash: undefined } }, 'invalid_id_token'],
        [{ claims: { nonce: 'other' } }, 'invalid_id_token'],
        [{ claims: { aud: 'someone-else' } }, 'invalid_id_token'],
        [{ params: { token_type: 'mac' } }, 'invalid_request'],
        [{ params: { access_token: null } }, 'invalid_request'],
        [{ params: { id_token: null } }, 'invalid_request'],
        [{ params: { id_token: 'e30.e30.' } }, 'invalid_id_token'],
      ];
      for (const [tweak, code] of cases) {
        const res = await attempt(fx, tweak);
        assert.equal(res.status, 400, JSON.stringify(tweak));
        assert.equal(res.body.error, code, JSON.stringify(tweak));
        assert.doesNotMatch(JSON.stringify(res.body), /eyJ/);
      }
    } finally {
      await fx.close();
    }
  });

  test('id_token alone logs in without an access token', async () => {
    const fx = await startHostileApp({ responseType: 'id_token' }, showUser);
    try {
      const ok = await attempt(fx, { params: { access_token: null, token_type: null, expires_in: null } });
      assert.deepEqual(ok.body, { sub: 'alice', accessToken: false, path: '/done' });
    } finally {
      await fx.close();
    }
  });
});

describe('hybrid code id_token (hostile provider)', () => {
  test('the front-channel ID token is bound to the code by c_hash, and names the same user', async () => {
    const fx = await startHostileApp({ responseType: 'code id_token' }, showUser);
    try {
      const ok = await attempt(fx, { params: { access_token: null, token_type: null, expires_in: null } });
      assert.deepEqual(ok.body, { sub: 'alice', accessToken: true, path: '/done' });
      assert.equal(fx.op.authorizations.at(-1)!.params.get('code_challenge_method'), 'S256');

      for (const claims of [{ c_hash: 'AAAAAAAAAAAAAAAAAAAAAA' }, { c_hash: undefined }, { sub: 'mallory' }]) {
        const res = await attempt(fx, { claims, params: { access_token: null, token_type: null } });
        assert.equal(res.status, 400, JSON.stringify(claims));
        assert.equal(res.body.error, 'invalid_id_token', JSON.stringify(claims));
      }
    } finally {
      await fx.close();
    }
  });
});

describe('form_post across sites', () => {
  test('a cross-site POST is re-posted once from our origin, then completes', async () => {
    const fx = await startHostileApp({ responseType: 'id_token token' }, showUser);
    try {
      const b = fx.browser();
      let fields: URLSearchParams | undefined;
      fx.op.onAuthorize(async (redirect, req) => {
        await frontChannel(fx, redirect, req);
        fields = new URLSearchParams(redirect);
        return { status: 204, text: '' };
      });
      const start = await b.get(`${fx.base}/openid/hostile/login?returnTo=/back`);
      await b.get(start.headers.get('location')!);
      const first = await b.post(`${fx.base}/openid/hostile/auth`, fields!, { headers: { 'sec-fetch-site': 'cross-site' } });
      assert.equal(first.status, 200);
      assert.match(first.headers.get('content-security-policy')!, /script-src 'nonce-/);
      const form = autoSubmittedForm(await first.text())!;
      assert.equal(form.action, '/openid/hostile/auth');
      const second = await b.post(`${fx.base}${form.action}`, form.fields, { headers: { 'sec-fetch-site': 'same-origin' } });
      assert.equal(second.status, 302);
      assert.equal(second.headers.get('location'), '/back');

      // Without a session even after the re-post: a plain invalid_state, no loop.
      const stranger = new Browser();
      const page = await stranger.post(`${fx.base}/openid/hostile/auth`, fields!, { headers: { 'sec-fetch-site': 'cross-site' } });
      const again = autoSubmittedForm(await page.text())!;
      const final = await stranger.post(`${fx.base}${again.action}`, again.fields);
      assert.equal(final.status, 400);
      assert.equal((await final.json()).error, 'invalid_state');
    } finally {
      await fx.close();
    }
  });
});

describe('every response type against oidc-provider', () => {
  for (const responseType of ['code id_token', 'id_token token', 'id_token'] as const) {
    test(responseType, async () => {
      const fx = await startFixture(
        [
          {
            name: 'op',
            client: { application_type: 'native', response_types: [responseType], grant_types: ['authorization_code', 'implicit'] },
            options: { responseType },
            dev: { extraConfig: { responseTypes: ['code', 'code id_token', 'id_token token', 'id_token'] } },
          },
        ],
        (app, { op }) => showUser(app, op!),
      );
      try {
        const done = await login(fx.browser(), fx, 'op', '/landed');
        assert.equal(done.status, 200, done.body);
        assert.deepEqual(JSON.parse(done.body), { sub: 'alice', accessToken: responseType !== 'id_token', path: '/landed' });
      } finally {
        await fx.close();
      }
    });
  }
});

test('form_post from another site in real Chromium: the SameSite=Lax session survives', async () => {
  const browser = await launchChromium();

  const app = new Koa();
  app.keys = ['k'];
  const sessions = redisSession(app, { redis: redisUrl(), prefix: uniquePrefix('xsite') });
  app.use(sessions);
  let posts = 0;
  app.use(async (ctx, next) => {
    if (ctx.method === 'POST') posts++;
    await next();
  });
  let handler: ReturnType<Koa['callback']> | undefined;
  const server = createServer((req, res) => (handler ??= app.callback())(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // The app answers as "localhost", the provider as "127.0.0.1": two sites, as in production.
  const base = `http://localhost:${(server.address() as AddressInfo).port}`;
  const op = await startDevProvider({
    interactive: true,
    clients: [{
      client_id: 'xsite', client_secret: 'xsite-secret-value', application_type: 'native',
      redirect_uris: [`${base}/openid/xsite/auth`], response_types: ['code id_token'], grant_types: ['authorization_code', 'implicit'],
    }],
    extraConfig: { responseTypes: ['code', 'code id_token'] },
  });
  const openid = new OpenID(app, {
    name: 'xsite', clientId: 'xsite', clientSecret: 'xsite-secret-value', baseUrl: base, responseType: 'code id_token',
    configuration: `${op.issuer}/.well-known/openid-configuration`, allowInsecureRequests: true,
  });
  showUser(app, openid);
  try {
    const page = await browser.newPage();
    await page.goto(`${base}/openid/xsite/login?returnTo=/welcome`);
    await page.fill('input[name="login"]', 'carol');
    await page.fill('input[name="password"]', 'any');
    await page.click('button[type="submit"]');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/welcome`, { timeout: 10_000 });
    assert.deepEqual(JSON.parse((await page.textContent('body'))!), { sub: 'carol', accessToken: true, path: '/welcome' });
    assert.equal(posts, 2, 'the cross-site POST was re-posted once from our origin');
  } finally {
    await browser.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await sessions.close();
    await op.close();
  }
});
