/**
 * ID token checks through the whole login (app login route → hostile authorize → app callback),
 * against a real HTTP server with Redis sessions: every forged ID token is refused with 400
 * `invalid_id_token`, the answer carries no token, and nothing of the login reaches the session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { generateKeyPair } from 'jose';

import { attemptLogin, sessionLogin, showLoginAtMe, startHostileApp, type HostileApp } from '../support/hostile-app.js';
import { tamperSignature, validIdTokenClaims, type TokenContext } from '../support/hostile-provider.js';
import { Browser } from '../support/http-client.js';
import { newRedis } from '../support/redis.js';

const now = () => Math.floor(Date.now() / 1000);
const without = (claims: Record<string, unknown>, ...names: string[]) =>
  Object.fromEntries(Object.entries(claims).filter(([k]) => !names.includes(k)));

describe('ID tokens at the callback', () => {
  let fx: HostileApp;
  let secret: string;
  const redis = newRedis();
  /** What the token endpoint sent last: no answer and no stored session may contain it (unless valid). */
  let sent: { accessToken: string; idToken: string | null };

  before(async () => {
    fx = await startHostileApp({ scopes: ['openid'], jwksCooldown: 0.3 }, showLoginAtMe);
    secret = fx.openid.options.clientSecret!;
  });
  after(async () => {
    redis.disconnect();
    await fx.close();
  });

  /** The token endpoint answers with the ID token `make` builds (a string as is, `null`: none). */
  function answerWith(make: (ctx: TokenContext) => Promise<string | null> | string | null) {
    fx.op.onToken(async (ctx) => {
      const idToken = await make(ctx);
      sent = { accessToken: ctx.accessToken, idToken };
      return fx.op.tokenAnswer(ctx, idToken);
    });
  }

  function assertNoTokenIn(text: string) {
    assert.ok(!text.includes(sent.accessToken), 'contains the access token');
    assert.ok(!text.includes(secret), 'contains the client secret');
    // The header (alg, kid) is the same for every token of the key: the payload and signature are not.
    for (const part of (sent.idToken ?? '').split('.').slice(1).filter((p) => p.length >= 8)) {
      assert.ok(!text.includes(part), 'contains the ID token\'s payload or signature');
    }
  }

  /** Every session value in Redis written by the hostile apps (other runs' values hold other tokens). */
  async function storedSessions(): Promise<string[]> {
    const keys = await redis.keys('test:hostile:*');
    const values = await Promise.all(keys.map(async (k) => ((await redis.type(k)) === 'hash' ? Object.values(await redis.hgetall(k)).join(' ') : null)));
    return values.filter((v) => v !== null);
  }

  test('a valid login succeeds: 302 to returnTo, the session (in Redis) holds the login', async () => {
    answerWith((ctx) => fx.op.sign(validIdTokenClaims(ctx)));
    const res = await attemptLogin(fx);
    assert.equal(res.status, 302, res.text);
    assert.equal(res.redirectedTo, '/done');
    assert.equal((await sessionLogin(fx, res.browser))?.claims.sub, 'alice');
    assert.ok((await storedSessions()).some((v) => v.includes(sent.accessToken)), 'the tokens are in Redis');
    assert.ok(!res.browser.cookieHeader(fx.base).includes(sent.accessToken), 'and not in the cookie');
  });

  const forged: Array<[string, (ctx: TokenContext) => Promise<string | null> | string | null]> = [
    ['a bad signature', async (ctx) => tamperSignature(await fx.op.sign(validIdTokenClaims(ctx)))],
    ['alg "none" (unsigned)', (ctx) => fx.op.sign(validIdTokenClaims(ctx), { alg: 'none' })],
    [
      'HS256 signed with the client secret (key confusion)',
      (ctx) => fx.op.sign(validIdTokenClaims(ctx), { alg: 'HS256' }, new TextEncoder().encode(secret)),
    ],
    ['another "iss"', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), iss: 'https://evil.example' })],
    ['no "iss"', (ctx) => fx.op.sign(without(validIdTokenClaims(ctx), 'iss'))],
    ['another "aud"', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), aud: 'someone-else' })],
    ['no "aud"', (ctx) => fx.op.sign(without(validIdTokenClaims(ctx), 'aud'))],
    ['several audiences without "azp"', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), aud: [ctx.clientId, 'other'] })],
    ['"azp" of another client', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), aud: [ctx.clientId, 'other'], azp: 'other' })],
    ['"azp" of another client, one audience', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), azp: 'other' })],
    ['an expired "exp"', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), iat: now() - 7200, exp: now() - 3600 })],
    ['no "exp"', (ctx) => fx.op.sign(without(validIdTokenClaims(ctx), 'exp'))],
    ['"exp" as a string', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), exp: String(now() + 300) })],
    ['no "iat"', (ctx) => fx.op.sign(without(validIdTokenClaims(ctx), 'iat'))],
    ['no "sub"', (ctx) => fx.op.sign(without(validIdTokenClaims(ctx), 'sub'))],
    ['an empty "sub"', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), sub: '' })],
    ['another "nonce"', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), nonce: 'not-the-nonce-of-this-login' })],
    ['no "nonce"', (ctx) => fx.op.sign(without(validIdTokenClaims(ctx), 'nonce'))],
    ['"nbf" in the future', (ctx) => fx.op.sign({ ...validIdTokenClaims(ctx), nbf: now() + 3600 })],
    [
      'a signature by an unknown key under a known "kid"',
      async (ctx) => {
        const { privateKey } = await generateKeyPair('RS256');
        return fx.op.sign(validIdTokenClaims(ctx), { kid: fx.op.keys.current.kid }, privateKey);
      },
    ],
    ['a payload that is not JSON', () => fx.op.sign('not json')],
    ['no "id_token" at all', () => null],
  ];

  for (const [what, make] of forged) {
    test(`${what}: 400 invalid_id_token, no token in the answer, nothing stored`, async () => {
      answerWith(make);
      const res = await attemptLogin(fx);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body?.error, 'invalid_id_token', res.text);
      assertNoTokenIn(res.text);
      assert.equal(await sessionLogin(fx, res.browser), null, 'the login was stored in the session');
      for (const value of await storedSessions()) assertNoTokenIn(value);
    });
  }

  test('a refused login leaves the session\'s previous login in place', async () => {
    answerWith((ctx) => fx.op.sign(validIdTokenClaims(ctx)));
    const browser = new Browser();
    assert.equal((await attemptLogin(fx, browser)).status, 302);
    fx.op.subject = 'mallory';
    try {
      answerWith(async (ctx) => tamperSignature(await fx.op.sign(validIdTokenClaims(ctx))));
      const res = await attemptLogin(fx, browser);
      assert.equal(res.status, 400);
      assert.equal((await sessionLogin(fx, browser))?.claims.sub, 'alice');
    } finally {
      fx.op.subject = 'alice';
    }
  });
});

describe('ID tokens with max_age', () => {
  let fx: HostileApp;
  before(async () => {
    fx = await startHostileApp({ scopes: ['openid'], maxAge: 60 });
  });
  after(() => fx.close());

  for (const [what, authTime] of [
    ['a recent "auth_time" passes', (ctx: TokenContext) => ctx.authTime],
    ['no "auth_time"', () => undefined],
    ['an "auth_time" older than max_age', () => now() - 3600],
  ] as const) {
    test(what, async () => {
      fx.op.onToken(async (ctx) => fx.op.tokenAnswer(ctx, { ...validIdTokenClaims(ctx), auth_time: authTime(ctx) }));
      const res = await attemptLogin(fx);
      assert.equal(fx.op.authorizations.at(-1)?.params.get('max_age'), '60');
      if (what.endsWith('passes')) assert.equal(res.status, 302, res.text);
      else {
        assert.equal(res.status, 400, res.text);
        assert.equal(res.body?.error, 'invalid_id_token');
      }
    });
  }
});
