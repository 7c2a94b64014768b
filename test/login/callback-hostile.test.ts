/**
 * The callback against a provider that misbehaves, through the whole login on a real HTTP server
 * with Redis sessions: a discovery document naming another issuer, RFC 9207 mix-up, key rotation
 * and bogus `kid`s, token endpoint failures and outages.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  attemptLogin,
  readAttempt,
  sessionLogin,
  showLoginAtMe,
  startHostileApp,
  type HostileApp,
  type LoginAttempt,
} from '../support/hostile-app.js';
import { validIdTokenClaims, type Answer, type TokenContext } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';

const LOGIN = '/openid/hostile/login?returnTo=/done';
const CALLBACK = '/openid/hostile/auth';

/** login route → hostile authorize; returns the callback URL, not requested yet. */
async function authorizeOnly(fx: HostileApp, browser: Browser): Promise<URL> {
  const { stoppedAt, response } = await browser.follow(`${fx.base}${LOGIN}`, {
    stopAt: (u) => u.origin === fx.base && u.pathname === CALLBACK,
  });
  assert.ok(stoppedAt, `the login did not reach the callback (${response.status})`);
  return stoppedAt;
}

/** Requests the callback URL (timed). */
async function callback(url: URL, browser: Browser): Promise<LoginAttempt> {
  const started = performance.now();
  return readAttempt(await browser.get(url), browser, started);
}

/** A hostile app whose `/me` shows this provider's login in the session. */
function startApp(options: Parameters<typeof startHostileApp>[0] = {}): Promise<HostileApp> {
  return startHostileApp({ scopes: ['openid'], jwksCooldown: 0.3, ...options }, showLoginAtMe);
}

async function sessionSub(fx: HostileApp, browser: Browser): Promise<string | null> {
  return (await sessionLogin(fx, browser))?.claims.sub ?? null;
}

function assertRefused(res: LoginAttempt, status: number, code: string) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body?.error, code, res.text);
}

const bogusKid = () => `bogus-${randomBytes(6).toString('hex')}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('discovery', () => {
  test('a document naming another issuer answers 503 discovery_failed; once fixed, the next request works', async () => {
    const fx = await startApp();
    try {
      const real = fx.op.discovery.issuer as string;
      for (const wrong of ['https://evil.example', `${real}/`, real.replace('127.0.0.1', 'localhost')]) {
        fx.op.discovery.issuer = wrong;
        await sleep(350); // past the cooldown (0.3 s): the failure is remembered no longer
        const res = await attemptLogin(fx);
        assertRefused(res, 503, 'discovery_failed');
      }
      const asked = fx.op.discoveryRequests;
      assert.equal(asked, 3, 'each attempt after the cooldown asked again');
      // Within the cooldown a failure is answered from memory: the provider is not hammered.
      for (let i = 0; i < 5; i++) assertRefused(await attemptLogin(fx), 503, 'discovery_failed');
      assert.equal(fx.op.discoveryRequests, asked);

      fx.op.discovery.issuer = real;
      await sleep(350);
      const ok = await attemptLogin(fx);
      assert.equal(ok.status, 302, ok.text);
      assert.equal(ok.redirectedTo, '/done');
      assert.equal(await sessionSub(fx, ok.browser), 'alice');
      assert.equal(fx.op.discoveryRequests, asked + 1);
    } finally {
      await fx.close();
    }
  });
});

describe('RFC 9207 "iss" authorization response parameter', () => {
  let fx: HostileApp;
  before(async () => {
    fx = await startApp();
    fx.op.discovery.authorization_response_iss_parameter_supported = true;
  });
  after(() => fx.close());

  test('the right "iss" passes', async () => {
    fx.op.onAuthorize(undefined);
    const browser = new Browser();
    const url = await authorizeOnly(fx, browser);
    assert.equal(url.searchParams.get('iss'), fx.op.issuer);
    const res = await callback(url, browser);
    assert.equal(res.status, 302, res.text);
    assert.equal(await sessionSub(fx, browser), 'alice');
  });

  for (const [what, change] of [
    ['another "iss"', (redirect: URLSearchParams) => redirect.set('iss', 'https://evil.example')],
    ['the issuer with a trailing slash', (redirect: URLSearchParams) => redirect.set('iss', `${fx.op.issuer}/`)],
    ['no "iss"', (redirect: URLSearchParams) => redirect.delete('iss')],
  ] as const) {
    test(`${what}: 400 issuer_mismatch, the code is never sent to the token endpoint`, async () => {
      fx.op.onAuthorize((redirect) => void change(redirect));
      const tokenRequests = fx.op.tokenRequests.length;
      const res = await attemptLogin(fx);
      assertRefused(res, 400, 'issuer_mismatch');
      assert.equal(fx.op.tokenRequests.length, tokenRequests);
      assert.equal(await sessionSub(fx, res.browser), null);
    });
  }

  test('an error response from another issuer is a mix-up too: 400 issuer_mismatch (RFC 9207 §2.4)', async () => {
    fx.op.onAuthorize((redirect) => {
      redirect.delete('code');
      redirect.set('error', 'access_denied');
      redirect.set('iss', 'https://evil.example');
    });
    const res = await attemptLogin(fx);
    assertRefused(res, 400, 'issuer_mismatch');
  });

  test('without the metadata flag, an "iss" that is present must still match', async () => {
    const other = await startApp();
    try {
      assert.equal(other.op.discovery.authorization_response_iss_parameter_supported, undefined);
      other.op.onAuthorize((redirect) => void redirect.set('iss', 'https://evil.example'));
      assertRefused(await attemptLogin(other), 400, 'issuer_mismatch');
      other.op.onAuthorize(undefined);
      assert.equal((await attemptLogin(other)).status, 302, 'no "iss" at all is fine then');
    } finally {
      await other.close();
    }
  });
});

describe('key rotation', () => {
  test('a rotation right after the first login is accepted with exactly one more JWKS fetch', async () => {
    const fx = await startApp({ jwksCooldown: 0.3 });
    try {
      assert.equal((await attemptLogin(fx)).status, 302);
      assert.equal(fx.op.jwksRequests, 1);
      await fx.op.keys.rotate();
      const res = await attemptLogin(fx);
      assert.equal(res.status, 302, res.text);
      assert.equal(await sessionSub(fx, res.browser), 'alice');
      assert.equal(fx.op.jwksRequests, 2);
      assert.ok(res.ms < 300 + 500, `took ${res.ms} ms: at most the cooldown`);
      // Both keys now known: no further fetch.
      assert.equal((await attemptLogin(fx)).status, 302);
      assert.equal(fx.op.jwksRequests, 2);
    } finally {
      await fx.close();
    }
  });

  test('bogus kids: 10 concurrent logins cause at most 2 JWKS fetches; a repeated bogus kid fails fast without a fetch', async () => {
    const fx = await startApp({ jwksCooldown: 0.5 });
    try {
      assert.equal((await attemptLogin(fx)).status, 302);
      fx.op.onToken(async (ctx: TokenContext) =>
        fx.op.tokenAnswer(ctx, await fx.op.sign(validIdTokenClaims(ctx), { kid: bogusKid() })),
      );
      const all = await Promise.all(Array.from({ length: 10 }, () => attemptLogin(fx)));
      for (const res of all) assertRefused(res, 400, 'invalid_id_token');
      assert.ok(fx.op.jwksRequests <= 2, `${fx.op.jwksRequests} JWKS fetches`);

      const kid = bogusKid();
      fx.op.onToken(async (ctx: TokenContext) => fx.op.tokenAnswer(ctx, await fx.op.sign(validIdTokenClaims(ctx), { kid })));
      assertRefused(await attemptLogin(fx), 400, 'invalid_id_token');
      const fetched = fx.op.jwksRequests;
      const again = await attemptLogin(fx);
      assertRefused(again, 400, 'invalid_id_token');
      assert.equal(fx.op.jwksRequests, fetched, 'a kid just found unknown is not fetched again');
      assert.ok(again.ms < 300, `took ${again.ms} ms: it must not wait for the cooldown`);
    } finally {
      await fx.close();
    }
  });

  test('a key dropped from the JWKS is no longer accepted after the next refresh', async () => {
    const fx = await startApp({ jwksCooldown: 0.3 });
    try {
      assert.equal((await attemptLogin(fx)).status, 302);
      const old = fx.op.keys.current;
      await fx.op.keys.rotate(undefined, { keepOld: false });
      assert.equal((await attemptLogin(fx)).status, 302, 'the new key is fetched');
      fx.op.onToken(async (ctx: TokenContext) =>
        fx.op.tokenAnswer(ctx, await fx.op.sign(validIdTokenClaims(ctx), { kid: old.kid }, old.privateKey)),
      );
      const res = await attemptLogin(fx);
      assertRefused(res, 400, 'invalid_id_token');
      assert.equal(await sessionSub(fx, res.browser), null);
    } finally {
      await fx.close();
    }
  });

  test('a malformed key in the JWKS under the token\'s kid: 400 invalid_id_token, not a 500', async () => {
    const fx = await startApp({ jwksCooldown: 0.3 });
    try {
      const { n: _n, ...broken } = { ...fx.op.keys.current.publicJwk, kid: 'broken-key' };
      fx.op.keys.published = [...fx.op.keys.published, broken];
      fx.op.onToken(async (ctx: TokenContext) =>
        fx.op.tokenAnswer(ctx, await fx.op.sign(validIdTokenClaims(ctx), { kid: 'broken-key' })),
      );
      const res = await attemptLogin(fx);
      assertRefused(res, 400, 'invalid_id_token');
      fx.op.onToken(undefined);
      assert.equal((await attemptLogin(fx)).status, 302, 'the other keys still work');
    } finally {
      await fx.close();
    }
  });

  test('a JWKS that lags behind the signer: the new key is accepted once published (after the cooldown)', async () => {
    const fx = await startApp({ jwksCooldown: 0.3 });
    try {
      assert.equal((await attemptLogin(fx)).status, 302);
      const key = await fx.op.keys.rotate();
      // The signer switched; the published set (e.g. behind a CDN) does not have the key yet.
      fx.op.keys.published = fx.op.keys.published.filter((k) => k.kid !== key.kid);
      assertRefused(await attemptLogin(fx), 400, 'invalid_id_token');
      fx.op.keys.published = [key.publicJwk, ...fx.op.keys.published];
      await new Promise((resolve) => setTimeout(resolve, 400));
      const res = await attemptLogin(fx);
      assert.equal(res.status, 302, `still refused after the cooldown: ${res.text}`);
    } finally {
      await fx.close();
    }
  });
});

describe('token endpoint failures', () => {
  let fx: HostileApp;
  before(async () => {
    fx = await startApp({ timeout: 1 });
  });
  after(() => fx.close());

  /** The last column: the `provider_error` the answer must carry (`null`: none; `undefined`: not checked). */
  const cases: Array<[string, () => Answer, number, string, string | null | undefined]> = [
    ['HTTP 500 with an OAuth error body', () => ({ status: 500, json: { error: 'server_error', error_description: '<script>x</script>' } }), 502, 'token_request_failed', undefined],
    ['HTTP 500 with an HTML page', () => ({ status: 500, text: '<html><h1>Internal Server Error</h1></html>', contentType: 'text/html' }), 502, 'token_request_failed', null],
    ['invalid JSON', () => ({ text: '{"access_token": "abc", ' }), 502, 'provider_unavailable', null],
    ['invalid_grant', () => ({ status: 400, json: { error: 'invalid_grant', error_description: 'code <b>used</b>' } }), 400, 'token_request_failed', 'invalid_grant'],
  ];
  for (const [what, answer, status, code, providerError] of cases) {
    test(`${what}: ${status} ${code}${providerError ? ` (${providerError})` : ''}`, async () => {
      fx.op.onToken(answer);
      const res = await attemptLogin(fx);
      assertRefused(res, status, code);
      if (providerError !== undefined) assert.equal(res.body?.provider_error, providerError ?? undefined);
      assert.doesNotMatch(res.text, /<script>|<b>|<html>|hostile-secret-value-0123456789abcdef/);
      assert.equal(await sessionSub(fx, res.browser), null);
    });
  }

  test('the provider down (socket destroyed): 502 provider_unavailable', async () => {
    fx.op.onToken(undefined);
    const browser = new Browser();
    const url = await authorizeOnly(fx, browser);
    fx.op.down = true;
    try {
      const res = await callback(url, browser);
      assertRefused(res, 502, 'provider_unavailable');
    } finally {
      fx.op.down = false;
    }
    assert.equal(await sessionSub(fx, browser), null);
  });

  test('the provider hanging: 504 within the configured timeout (1 s)', async () => {
    fx.op.onToken(() => ({ hang: true }));
    const res = await attemptLogin(fx);
    assertRefused(res, 504, 'provider_unavailable');
    assert.ok(res.ms >= 900 && res.ms < 1800, `answered after ${Math.round(res.ms)} ms`);
    assert.equal(await sessionSub(fx, res.browser), null);
  });

  test('after the failures, a login works again', async () => {
    fx.op.onToken(undefined);
    const res = await attemptLogin(fx);
    assert.equal(res.status, 302, res.text);
  });
});
